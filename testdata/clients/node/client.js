// node-postgres client of dualgate's client matrix (issue 5): connects,
// runs parameterized queries over the types BI and services use, reads
// the authority label from the notice event, browses the catalog the way
// node tools do (information_schema and pg_catalog), and checks error
// codes. Prints one fact per line ("kind<TAB>field<TAB>..."); the Go test
// (cmd/dualgate/clients_test.go) asserts on those lines.
//
// Usage: node client.js HOST PORT DATABASE USER
'use strict';
const { Client } = require('pg');

function out(...parts) {
  console.log(parts.map(String).join('\t'));
}

function iso(v) {
  return v instanceof Date ? v.toISOString() : String(v);
}

async function main() {
  const [host, port, database, user] = process.argv.slice(2);
  const client = new Client({ host, port: Number(port), database, user, application_name: 'dualgate-node-test' });
  const notices = [];
  client.on('notice', (n) => notices.push(n.message));
  await client.connect();
  try {
    let r = await client.query('SELECT version() AS v');
    out('version', r.rows[0].v.split(' ')[0]);

    // Parameters of several types, written and read back.
    await client.query(
      'INSERT INTO public.purchases (purchase_id, client_id, amount, paid, day, at, note, ratio) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)',
      [11, '9000000000', '98765.43', true, '2024-05-05', new Date(Date.UTC(2024, 4, 5, 6, 7, 8, 9)), 'node ✓', 2.25]);
    r = await client.query({
      text: 'SELECT purchase_id, client_id, amount, paid, day, at, note, ratio FROM public.purchases WHERE purchase_id = $1 AND paid = $2 AND amount > $3',
      values: [11, true, 1.5],
    });
    out('fields', r.fields.map((f) => f.name + ':' + f.dataTypeID).join(','));
    for (const row of r.rows) {
      out('purchase', row.purchase_id, typeof row.purchase_id, row.client_id, typeof row.client_id, row.amount, row.paid,
        row.day instanceof Date ? row.day.getFullYear() + '-' + (row.day.getMonth() + 1) + '-' + row.day.getDate() : row.day,
        iso(row.at), row.note, row.ratio);
    }

    // The authority label arrives as a NOTICE.
    notices.length = 0;
    r = await client.query('SELECT order_id, status, total_cents, placed_at FROM canonical.commercial_orders WHERE order_id = $1', ['o-2']);
    for (const row of r.rows) out('order', row.order_id, row.status, row.total_cents, iso(row.placed_at));
    for (const n of notices) out('notice', n);
    notices.length = 0;
    r = await client.query('SELECT count(*) AS n FROM serving.order_timeline WHERE order_id = ANY($1)', [['o-1', 'o-2', 'o-9']]).catch((e) => ({ err: e }));
    if (r.err) {
      r = await client.query('SELECT count(*) AS n FROM serving.order_timeline WHERE order_id IN ($1, $2, $3)', ['o-1', 'o-2', 'o-9']);
    }
    out('serving', r.rows[0].n);
    for (const n of notices) out('notice', n);

    // Metadata the way node tools read it.
    r = await client.query(
      `SELECT table_schema, table_name, table_type FROM information_schema.tables
       WHERE table_schema = $1 ORDER BY table_name`, ['canonical']);
    for (const row of r.rows) out('table', row.table_schema + '.' + row.table_name, row.table_type);
    r = await client.query(
      `SELECT column_name, data_type, is_nullable, ordinal_position FROM information_schema.columns
       WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`, ['canonical', 'commercial_orders']);
    for (const row of r.rows) out('column', row.column_name, row.data_type, row.is_nullable, row.ordinal_position);
    r = await client.query(
      `SELECT kcu.column_name, tc.constraint_name FROM information_schema.table_constraints tc
       JOIN information_schema.key_column_usage kcu ON kcu.constraint_name = tc.constraint_name
         AND kcu.table_schema = tc.table_schema AND kcu.table_name = tc.table_name
       WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = $1 AND tc.table_name = $2
       ORDER BY kcu.ordinal_position`, ['canonical', 'order_lines']);
    for (const row of r.rows) out('pk', row.column_name, row.constraint_name);
    r = await client.query(
      `SELECT c.relname, obj_description(c.oid, 'pg_class') AS comment FROM pg_catalog.pg_class c
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2`, ['serving', 'order_timeline']);
    for (const row of r.rows) out('comment', row.relname, row.comment);

    // Error codes.
    for (const q of ['SELECT * FROM public.no_such_table', 'SELECT 1/0', "SELECT 'x'::int"]) {
      try {
        await client.query(q);
        out('error', q, 'none');
      } catch (e) {
        out('error', q, e.code);
      }
    }
    r = await client.query('SELECT 1 AS still_usable');
    out('after-errors', r.rows[0].still_usable);
  } finally {
    await client.end();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
