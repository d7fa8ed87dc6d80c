-- The sample schema the corpus runs against (a fresh test database each run).
CREATE TABLE customers (
    id serial PRIMARY KEY,
    name text NOT NULL,
    email text,
    country text,
    delete_flag boolean NOT NULL DEFAULT false,
    update_at timestamptz NOT NULL DEFAULT now(),
    tags text[] NOT NULL DEFAULT '{}',
    meta jsonb NOT NULL DEFAULT '{}'
);
CREATE TABLE orders (
    id serial PRIMARY KEY,
    customer_id int NOT NULL REFERENCES customers (id),
    total numeric(12, 2) NOT NULL,
    status text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    items jsonb NOT NULL DEFAULT '[]'
);
CREATE TABLE events (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    kind text NOT NULL,
    payload json,
    ip inet,
    uid uuid
);
INSERT INTO customers (name, email, country, tags, meta) VALUES
    ('Ada Smith', 'ada@example.com', 'UK', '{vip}', '{"plan": "pro", "limits": {"seats": 5}}'),
    ('Bob Jones', 'bob@example.org', 'US', '{beta}', '{"plan": "free"}'),
    ('Ann Lee', 'ann@example.com', NULL, '{}', '{}');
INSERT INTO orders (customer_id, total, status, items) VALUES
    (1, 120.50, 'paid', '[{"sku": "A1", "qty": 2}]'),
    (1, 15.00, 'cancelled', '[{"sku": "B2", "qty": 1}]'),
    (2, 42.00, 'paid', '[]');
INSERT INTO events (kind, payload, ip, uid) VALUES
    ('login', '{"kind": "login"}', '10.1.2.3', gen_random_uuid());
CREATE PROCEDURE wipe_customers() LANGUAGE sql AS $$ DELETE FROM orders $$;
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
