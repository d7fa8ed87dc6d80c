-- A small shop to try Sluice on: customers, products, orders.
-- Load it with:  psql "$DATABASE_URL" -f scripts/sample-schema.sql
DROP TABLE IF EXISTS order_items, orders, products, customers;
CREATE TABLE customers (
    id serial PRIMARY KEY,
    name text NOT NULL,
    email text UNIQUE,
    country text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE products (
    id serial PRIMARY KEY,
    name text NOT NULL,
    price numeric(10, 2) NOT NULL,
    tags text[] NOT NULL DEFAULT '{}',
    attributes jsonb NOT NULL DEFAULT '{}'
);
CREATE TABLE orders (
    id serial PRIMARY KEY,
    customer_id int NOT NULL REFERENCES customers (id),
    status text NOT NULL DEFAULT 'open',
    ordered_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE order_items (
    order_id int NOT NULL REFERENCES orders (id),
    product_id int NOT NULL REFERENCES products (id),
    quantity int NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, product_id)
);
INSERT INTO customers (name, email, country) VALUES
    ('Ada Lovelace', 'ada@example.com', 'UK'),
    ('Grace Hopper', 'grace@example.com', 'US'),
    ('Edsger Dijkstra', 'edsger@example.com', 'NL');
INSERT INTO products (name, price, tags, attributes) VALUES
    ('Notebook', 4.50, '{paper}', '{"pages": 96}'),
    ('Fountain pen', 32.00, '{ink,gift}', '{"nib": "F"}'),
    ('Desk lamp', 58.90, '{light}', '{"watts": 9}');
INSERT INTO orders (customer_id, status) VALUES (1, 'paid'), (2, 'open'), (1, 'shipped');
INSERT INTO order_items VALUES (1, 1, 3), (1, 2, 1), (2, 3, 1), (3, 1, 10);
