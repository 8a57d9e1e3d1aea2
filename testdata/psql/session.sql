-- psql session run against dualgate and PostgreSQL 15: outputs must match
-- each other and testdata/psql/session.out. Label notices are switched
-- off (PostgreSQL accepts the dotted setting as a placeholder).
SET dualgate.label_notices = off;
CREATE TABLE orders (order_id text PRIMARY KEY, status text NOT NULL, total_cents int8, placed date);
INSERT INTO orders VALUES ('o-1', 'accepted', 1250, '2024-05-01'), ('o-2', 'paid', 9900, '2024-05-02');
\copy orders FROM 'testdata/psql/orders.csv' WITH (FORMAT csv, HEADER true)
SELECT order_id, status, total_cents FROM orders ORDER BY order_id;
SELECT status, count(*) AS n, sum(total_cents) AS cents FROM orders GROUP BY status ORDER BY status;
\x on
SELECT * FROM orders WHERE order_id = 'o-3';
\x off
SELECT order_id FROM orders WHERE total_cents IS NULL;
SELECT * FROM missing;
BEGIN;
UPDATE orders SET status = 'cancelled' WHERE order_id = 'o-1';
ROLLBACK;
SELECT status FROM orders WHERE order_id = 'o-1';
\copy (SELECT order_id, total_cents FROM orders ORDER BY order_id) TO STDOUT WITH (FORMAT csv, HEADER true)
