"""SQLAlchemy client of dualgate's client matrix (issue 5).

Browses the server the way Superset does, through SQLAlchemy's inspector
over psycopg2, then runs a Core select with bound parameters. Prints one
fact per line ("kind<TAB>field<TAB>..."); the Go test
(cmd/dualgate/clients_test.go) asserts on those lines.

Usage: /usr/bin/python3 inspect_dualgate.py HOST PORT DATABASE USER
"""
import datetime
import decimal
import logging
import sys

import sqlalchemy as sa


def out(*parts):
    print("\t".join(str(p) for p in parts), flush=True)


class Notices(logging.Handler):
    """Collects the NOTICEs SQLAlchemy's psycopg2 dialect logs (it drains
    conn.notices after every statement)."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def main():
    host, port, db, user = sys.argv[1:5]
    notices = Notices()
    pglog = logging.getLogger("sqlalchemy.dialects.postgresql")
    pglog.setLevel(logging.INFO)
    pglog.addHandler(notices)
    engine = sa.create_engine(
        "postgresql+psycopg2://%s@%s:%s/%s?sslmode=disable&application_name=dualgate-sqlalchemy-test" % (user, host, port, db)
    )
    insp = sa.inspect(engine)
    out("version", ".".join(str(v) for v in engine.dialect.server_version_info))
    # Browse every schema as Superset's database browser does: the tables
    # and views of each, their columns (with a known type) and the tables'
    # primary keys. One "browse" line per schema sums it up; anything odd
    # is a "bad" line, which the Go test forbids.
    for schema in insp.get_schema_names():
        out("schema", schema)
        tables = insp.get_table_names(schema=schema)
        views = insp.get_view_names(schema=schema)
        ncols = 0
        for kind, names in (("table", tables), ("view", views)):
            for name in names:
                out(kind, schema + "." + name)
                cols = insp.get_columns(name, schema=schema)
                if not cols:
                    out("bad", schema + "." + name, "no columns")
                for c in cols:
                    ncols += 1
                    if not c["name"] or isinstance(c["type"], sa.types.NullType):
                        out("bad", schema + "." + name, c["name"], repr(c["type"]))
                if kind == "table":
                    pk = insp.get_pk_constraint(name, schema=schema)
                    names_of = {c["name"] for c in cols}
                    if any(col not in names_of for col in pk["constrained_columns"]):
                        out("bad", schema + "." + name, "pk", pk)
        out("browse", schema, len(tables), len(views), ncols)
    for schema, table in (("canonical", "commercial_orders"), ("serving", "order_timeline"),
                          ("public", "clients"), ("public", "purchases")):
        q = schema + "." + table
        for c in insp.get_columns(table, schema=schema):
            typ = c["type"]
            if getattr(typ, "timezone", False):
                typ = "%s WITH TIME ZONE" % typ
            out("column", q + "." + c["name"], typ, c["nullable"], c.get("default"), c.get("comment"))
        pk = insp.get_pk_constraint(table, schema=schema)
        out("pk", q, ",".join(pk["constrained_columns"]), pk.get("name"))
        for ix in insp.get_indexes(table, schema=schema):
            out("index", q, ix["name"], ",".join(ix["column_names"]), ix["unique"])
        for fk in insp.get_foreign_keys(table, schema=schema):
            out("fk", q, fk["name"], ",".join(fk["constrained_columns"]),
                "%s.%s" % (fk["referred_schema"], fk["referred_table"]), ",".join(fk["referred_columns"]))
        out("comment", q, insp.get_table_comment(table, schema=schema)["text"])

    # A Core select with bound parameters, reading the authority label from
    # the notices psycopg2 collects.
    meta = sa.MetaData()
    orders = sa.Table("commercial_orders", meta, schema="canonical", autoload_with=engine)
    with engine.connect() as conn:
        stmt = (sa.select(orders.c.order_id, orders.c.status, orders.c.total_cents, orders.c.placed_at)
                .where(orders.c.total_cents >= sa.bindparam("min_total"))
                .where(orders.c.channel == sa.bindparam("channel"))
                .order_by(orders.c.order_id))
        del notices.messages[:]
        for r in conn.execute(stmt, {"min_total": 100, "channel": "web"}):
            out("order", r.order_id, r.status, r.total_cents, r.placed_at.astimezone(datetime.timezone.utc).isoformat())
        for n in notices.messages:
            out("notice", n.strip())
        raw = conn.connection.dbapi_connection
        out("label", raw.get_parameter_status("dualgate.authority"))
        # The same label through psycopg2 alone: conn.notices.
        cur = raw.cursor()
        cur.execute("SELECT count(*) FROM serving.order_timeline WHERE order_id = %s", ("o-1",))
        out("psycopg2", cur.fetchone()[0], raw.get_parameter_status("dualgate.authority"), " | ".join(n.strip() for n in raw.notices))
    purchases = sa.Table("purchases", meta, schema="public", autoload_with=engine)
    with engine.begin() as conn:
        conn.execute(purchases.insert(), [{"purchase_id": 7, "client_id": 9000000000, "amount": decimal.Decimal("19.99"),
                                           "paid": False, "day": datetime.date(2024, 5, 4),
                                           "at": datetime.datetime(2024, 5, 4, 8, 0, tzinfo=datetime.timezone.utc),
                                           "note": "sqlalchemy", "ratio": 1.5}])
    with engine.connect() as conn:
        sel = sa.select(purchases).where(purchases.c.purchase_id == sa.bindparam("id"))
        for r in conn.execute(sel, {"id": 7}):
            out("purchase", r.purchase_id, r.client_id, r.amount, r.paid, r.day, r.at.astimezone(datetime.timezone.utc).isoformat(), r.note, r.ratio)
        try:
            conn.execute(sa.text("SELECT * FROM public.no_such_table"))
        except sa.exc.ProgrammingError as e:
            out("error", e.orig.pgcode)


if __name__ == "__main__":
    main()
