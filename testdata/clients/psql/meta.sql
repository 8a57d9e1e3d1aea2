-- psql meta-commands against dualgate serving the demo catalog (run by
-- cmd/dualgate/clients_test.go; compared with meta.out, which
-- `go test ./cmd/dualgate -run TestClients/psql -update` rewrites).
SET dualgate.label_notices = off;
\l
\dn
\dn+
\dt *.*
\dv
\d canonical.commercial_orders
\d+ canonical.commercial_orders
\d public.purchases
\d+ public.clients
\d serving.order_timeline
\df
\df dualgate.*
\df+ reconcile.*
\x on
SELECT order_id, status, total_cents, currency, placed_at FROM canonical.commercial_orders WHERE order_id = 'o-2';
\x off
\copy public.clients FROM 'testdata/clients/psql/clients.csv' WITH (FORMAT csv, HEADER true)
SELECT client_id, name, email FROM public.clients ORDER BY client_id;
\copy (SELECT order_id, status, total_cents, currency FROM canonical.commercial_orders ORDER BY order_id) TO STDOUT WITH (FORMAT csv, HEADER true)
\copy public.clients TO STDOUT
\conninfo
