//! Time per `Guard::check` for short, typical and long queries.
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use sluice_sqlguard::Guard;

const SHORT: &str = "SELECT id, name FROM users WHERE id = 42";

const TYPICAL: &str = "SELECT country, count(*) AS customers, avg(total) FROM customers c \
JOIN orders o ON o.customer_id = c.id WHERE o.created_at > now() - interval '7 days' \
GROUP BY country ORDER BY 2 DESC LIMIT 10";

const COMPLEX: &str = "WITH recent AS (
    SELECT customer_id, sum(total) AS spent, count(*) AS orders
    FROM orders
    WHERE created_at >= now() - interval '30 days' AND status <> 'cancelled'
    GROUP BY customer_id
)
SELECT c.id, c.name, lower(c.email) AS email, r.spent, r.orders,
       rank() OVER (ORDER BY r.spent DESC) AS spend_rank
FROM customers c
JOIN recent r ON r.customer_id = c.id
WHERE c.delete_flag = false AND c.name ILIKE '%smith%'
ORDER BY r.spent DESC
LIMIT 50";

fn long_query() -> String {
    let columns: Vec<String> = (0..200)
        .map(|i| format!("coalesce(t.col_{i}, 0) + {i} AS c{i}"))
        .collect();
    format!(
        "SELECT {} FROM wide_table t WHERE t.id IN (SELECT id FROM other WHERE flag) ORDER BY 1",
        columns.join(", ")
    )
}

fn bench(c: &mut Criterion) {
    let guard = Guard::read_only();
    let long = long_query();
    let mut group = c.benchmark_group("check");
    group.bench_function("short", |b| {
        b.iter(|| guard.check(std::hint::black_box(SHORT)));
    });
    group.bench_function("typical", |b| {
        b.iter(|| guard.check(std::hint::black_box(TYPICAL)));
    });
    group.bench_function("complex_cte_window", |b| {
        b.iter(|| guard.check(std::hint::black_box(COMPLEX)));
    });
    group.bench_function("long_200_columns", |b| {
        b.iter(|| guard.check(std::hint::black_box(&long)));
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
