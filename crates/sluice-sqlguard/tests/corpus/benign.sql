-- Honest queries a data analyst writes; every one must be allowed by the read-only policy
-- and must run on the sample schema in tests/corpus/schema.sql. One query per line.
SELECT 1
SELECT * FROM customers
SELECT id, name FROM customers WHERE id = 1
SELECT 'DROP TABLE customers' AS note
SELECT 'DELETE FROM x; UPDATE y SET z = 1' AS text_that_looks_scary
SELECT name FROM customers WHERE name = 'O''Reilly; DROP TABLE customers'
SELECT update_at, delete_flag FROM customers WHERE delete_flag = false
SELECT id AS "drop", name AS "delete" FROM customers
SELECT count(*) FROM customers WHERE update_at > now() - interval '7 days'
SELECT country, count(*) AS n FROM customers GROUP BY country ORDER BY n DESC
SELECT country, count(*) FROM customers GROUP BY country HAVING count(*) > 1
SELECT DISTINCT country FROM customers ORDER BY country
SELECT DISTINCT ON (customer_id) customer_id, created_at, total FROM orders ORDER BY customer_id, created_at DESC
SELECT c.name, o.total FROM customers c JOIN orders o ON o.customer_id = c.id
SELECT c.name, o.total FROM customers c LEFT JOIN orders o ON o.customer_id = c.id WHERE o.id IS NULL
SELECT c.name, sum(o.total) FROM customers c JOIN orders o USING (id) GROUP BY c.name
SELECT * FROM customers c WHERE EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id)
SELECT * FROM customers WHERE id IN (SELECT customer_id FROM orders WHERE total > 100)
SELECT * FROM customers WHERE id NOT IN (SELECT customer_id FROM orders)
SELECT c.name, recent.total FROM customers c CROSS JOIN LATERAL (SELECT total FROM orders o WHERE o.customer_id = c.id ORDER BY created_at DESC LIMIT 1) recent
WITH totals AS (SELECT customer_id, sum(total) AS spent FROM orders GROUP BY customer_id) SELECT * FROM totals WHERE spent > 10
WITH a AS (SELECT 1 AS x), b AS (SELECT x + 1 AS y FROM a) SELECT * FROM b
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10) SELECT sum(i) FROM n
SELECT id, total, row_number() OVER (PARTITION BY customer_id ORDER BY created_at) FROM orders
SELECT id, total, sum(total) OVER (ORDER BY created_at ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) FROM orders
SELECT customer_id, rank() OVER w, dense_rank() OVER w FROM orders WINDOW w AS (ORDER BY total DESC)
SELECT id, lag(total) OVER (ORDER BY id), lead(total, 2, 0) OVER (ORDER BY id) FROM orders
SELECT ntile(4) OVER (ORDER BY total), percent_rank() OVER (ORDER BY total) FROM orders
SELECT count(*) FILTER (WHERE status = 'paid') AS paid, count(*) FILTER (WHERE status = 'cancelled') AS cancelled FROM orders
SELECT status, avg(total)::numeric(10, 2) FROM orders GROUP BY status
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY total) FROM orders
SELECT string_agg(name, ', ' ORDER BY name) FROM customers
SELECT array_agg(DISTINCT country) FROM customers
SELECT meta->>'plan' AS plan, meta->'limits'->>'seats' AS seats FROM customers
SELECT * FROM customers WHERE meta @> '{"plan": "pro"}'
SELECT * FROM customers WHERE meta ? 'plan'
SELECT meta #>> '{limits,seats}' FROM customers
SELECT jsonb_build_object('id', id, 'name', name) FROM customers
SELECT jsonb_agg(to_jsonb(c)) FROM customers c
SELECT key, value FROM customers, jsonb_each_text(meta)
SELECT jsonb_array_elements(items)->>'sku' FROM orders
SELECT jsonb_path_query_array(items, '$[*].qty') FROM orders
SELECT payload->>'kind' FROM events WHERE payload::jsonb ? 'kind'
SELECT * FROM generate_series(1, 10) AS g(n)
SELECT d::date, count(o.id) FROM generate_series(date '2024-01-01', date '2024-01-31', interval '1 day') d LEFT JOIN orders o ON o.created_at::date = d::date GROUP BY 1 ORDER BY 1
SELECT date_trunc('month', created_at) AS month, sum(total) FROM orders GROUP BY 1 ORDER BY 1
SELECT extract(year FROM created_at), extract(dow FROM created_at) FROM orders
SELECT age(now(), created_at) FROM orders
SELECT to_char(created_at, 'YYYY-MM-DD') FROM orders
SELECT created_at AT TIME ZONE 'UTC' FROM orders
SELECT CAST(total AS int), total::text, '42'::int + 1 FROM orders
SELECT name FROM customers WHERE name ILIKE '%smith%'
SELECT name FROM customers WHERE name ~* '^a' OR email LIKE '%@example.com'
SELECT lower(email), upper(name), length(name), substring(name FROM 1 FOR 3) FROM customers
SELECT split_part(email, '@', 2) AS domain, count(*) FROM customers GROUP BY 1
SELECT coalesce(country, 'unknown'), nullif(name, '') FROM customers
SELECT CASE WHEN total > 100 THEN 'big' WHEN total > 10 THEN 'medium' ELSE 'small' END FROM orders
SELECT greatest(total, 0), least(total, 1000), round(total * 1.2, 2), abs(total) FROM orders
SELECT tags[1], array_length(tags, 1), cardinality(tags) FROM customers
SELECT * FROM customers WHERE 'vip' = ANY (tags)
SELECT * FROM customers WHERE tags && ARRAY['vip', 'beta']
SELECT unnest(tags) AS tag, count(*) FROM customers GROUP BY 1
SELECT id FROM customers UNION SELECT customer_id FROM orders
SELECT id FROM customers INTERSECT SELECT customer_id FROM orders
SELECT id FROM customers EXCEPT ALL SELECT customer_id FROM orders
VALUES (1, 'a'), (2, 'b')
TABLE customers
SELECT * FROM customers ORDER BY id LIMIT 10 OFFSET 20
SELECT * FROM customers ORDER BY id FETCH FIRST 5 ROWS ONLY
SELECT * FROM events WHERE ip << '10.0.0.0/8'::inet
SELECT host(ip), masklen(ip) FROM events
SELECT * FROM events WHERE uid = '00000000-0000-0000-0000-000000000000'::uuid
SELECT gen_random_uuid()
SELECT md5(email), encode(sha256(email::bytea), 'hex') FROM customers
SELECT 1 -- a trailing comment with DROP TABLE in it
/* leading comment: DELETE FROM customers */ SELECT count(*) FROM customers
SELECT $$it's a dollar-quoted string with ; DELETE inside$$
SELECT E'escaped \' quote and a \n newline'
SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = 'public'
SELECT relname, n_live_tup FROM pg_stat_user_tables
SELECT pg_size_pretty(pg_total_relation_size('customers'))
SELECT pg_typeof(total) FROM orders LIMIT 1
SELECT current_database(), current_schema(), version()
EXPLAIN SELECT * FROM customers WHERE id = 1
EXPLAIN (FORMAT JSON) SELECT * FROM orders
EXPLAIN (ANALYZE false) SELECT 1
SHOW search_path
SHOW TimeZone
SHOW server_version
SELECT current_user, session_user, user, current_role, current_catalog
SELECT status, count(*), grouping(status) FROM orders GROUP BY ROLLUP (status)
SELECT ROW(1, 'a') AS r
SELECT inet '10.0.0.0/8' AS net
EXPLAIN (ANALYZE off, COSTS false) SELECT 1
SELECT 10 / 2 AS half, 'a/b' AS path
SELECT X'1F' AS bits, B'101' AS more_bits, U&'caf\00e9' AS cafe
SELECT * FROM customers UNION SELECT * FROM customers
SELECT enum_range(NULL::mood), enum_first(NULL::mood)
SELECT repeat('-', 40) AS rule, lpad('7', 3, '0') AS padded, format('%10s|', 'x')
SELECT repeat(name, 3) FROM customers
SELECT to_char(total, '999999999990.00') FROM orders
SELECT xmlelement(name li, name), xmlelement(NAME "Item", 'x') FROM customers
SELECT xmlelement(name li, xmlattributes(id AS n), name) FROM customers
SELECT ARRAY(SELECT id FROM customers ORDER BY id) AS ids
SELECT date_trunc('month', created_at) AS m, count(*) FROM orders GROUP BY 1 ORDER BY 1
SELECT * FROM orders WHERE created_at > now() - interval '7 days'
SELECT DISTINCT ON (customer_id) customer_id, total FROM orders ORDER BY customer_id, created_at DESC
SELECT meta->>'plan' AS plan, meta->'limits'->'seats' FROM customers WHERE meta @> '{"plan": "pro"}'
SELECT * FROM customers WHERE meta ? 'plan'
SELECT * FROM customers WHERE tags && ARRAY['vip']
SELECT name FROM customers WHERE name ~* '^a' OR email ILIKE '%example%'
SELECT * FROM orders WHERE total BETWEEN 10 AND 100 AND status IS DISTINCT FROM 'cancelled'
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY total) FROM orders
SELECT c.name, o.total FROM customers c LEFT JOIN LATERAL (SELECT total FROM orders WHERE customer_id = c.id ORDER BY created_at DESC LIMIT 1) o ON true
SELECT * FROM orders ORDER BY total DESC NULLS LAST FETCH FIRST 5 ROWS ONLY
SELECT schemaname, tablename FROM pg_catalog.pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'orders'
SELECT relname, reltuples FROM pg_class WHERE relkind = 'r'
SELECT generate_series(date '2024-01-01', date '2024-01-31', interval '1 day')::date AS d
SELECT status, count(*) FROM orders GROUP BY GROUPING SETS ((status), ())
SELECT * FROM customers WHERE id NOT IN (SELECT customer_id FROM orders)
SELECT current_date, current_timestamp, localtime
SELECT jsonb_agg(jsonb_build_object('id', id, 'name', name)) FROM customers
SELECT * FROM jsonb_to_recordset('[{"a":1}]') AS x(a int)
WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 10) SELECT * FROM r
SELECT trim(both ' ' from '  x  '), overlay('abc' placing 'X' from 2 for 1)
SELECT now() AT TIME ZONE 'UTC'
SELECT has_table_privilege('orders', 'SELECT'), obj_description('orders'::regclass, 'pg_class')
SELECT a.attname FROM pg_attribute a WHERE a.attrelid = 'orders'::regclass AND a.attnum > 0
SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'orders'::regclass
