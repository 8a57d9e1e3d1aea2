// Browse is the pgJDBC client of dualgate's client matrix (issue 5): it
// browses the server the way Metabase, DBeaver and Tableau do, through
// java.sql.DatabaseMetaData, then runs a PreparedStatement round trip.
// It prints one fact per line ("kind<TAB>field<TAB>..."), and the Go test
// (cmd/dualgate/clients_test.go) asserts on those lines.
//
// Usage: java -cp postgresql.jar:DIR Browse HOST PORT DATABASE USER
import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.Date;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.SQLWarning;
import java.sql.Statement;
import java.sql.Timestamp;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.Properties;

import org.postgresql.PGConnection;

public class Browse {
    static void out(Object... parts) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < parts.length; i++) {
            if (i > 0) b.append('\t');
            b.append(parts[i]);
        }
        System.out.println(b);
    }

    public static void main(String[] args) throws Exception {
        String url = "jdbc:postgresql://" + args[0] + ":" + args[1] + "/" + args[2];
        Properties p = new Properties();
        p.setProperty("user", args[3]);
        p.setProperty("sslmode", "disable");
        p.setProperty("ApplicationName", "dualgate-jdbc-test");
        // Prepared statements go server-side from the first execution, so
        // the extended protocol with binary parameters is what is tested.
        p.setProperty("prepareThreshold", "1");
        try (Connection c = DriverManager.getConnection(url, p)) {
            DatabaseMetaData md = c.getMetaData();
            out("product", md.getDatabaseProductName(), md.getDatabaseProductVersion());
            out("driver", md.getDriverName());

            try (ResultSet rs = md.getSchemas()) {
                while (rs.next()) out("schema", rs.getString("TABLE_SCHEM"));
            }
            try (ResultSet rs = md.getTables(null, null, "%", new String[] {"TABLE", "VIEW"})) {
                while (rs.next()) {
                    out("table", rs.getString("TABLE_SCHEM") + "." + rs.getString("TABLE_NAME"),
                            rs.getString("TABLE_TYPE"), rs.getString("REMARKS"));
                }
            }
            // Every schema getSchemas lists: getColumns of its first table
            // or view, checked for sane rows (names, type names, 1-based
            // consecutive positions, nullability), as a BI tool's browser
            // does when a schema is opened.
            java.util.List<String> schemas = new java.util.ArrayList<>();
            try (ResultSet rs = md.getSchemas()) {
                while (rs.next()) schemas.add(rs.getString("TABLE_SCHEM"));
            }
            for (String schema : schemas) {
                String first = null;
                try (ResultSet rs = md.getTables(null, schema, "%", new String[] {"TABLE", "VIEW"})) {
                    if (rs.next()) first = rs.getString("TABLE_NAME");
                }
                if (first == null) {
                    out("browse", schema, "-", 0, "no relation");
                    continue;
                }
                int n = 0;
                String problem = "ok";
                try (ResultSet rs = md.getColumns(null, schema, first, "%")) {
                    while (rs.next()) {
                        n++;
                        String name = rs.getString("COLUMN_NAME"), type = rs.getString("TYPE_NAME"), nullable = rs.getString("IS_NULLABLE");
                        if (name == null || name.isEmpty() || type == null || type.isEmpty() || rs.getInt("ORDINAL_POSITION") != n
                                || !("YES".equals(nullable) || "NO".equals(nullable))) {
                            problem = "bad column " + n + ": " + name + " " + type + " " + rs.getInt("ORDINAL_POSITION") + " " + nullable;
                        }
                    }
                }
                out("browse", schema, first, n, problem);
            }

            for (String[] t : new String[][] {{"canonical", "commercial_orders"}, {"serving", "order_timeline"},
                    {"public", "clients"}, {"public", "purchases"}}) {
                String q = t[0] + "." + t[1];
                try (ResultSet rs = md.getColumns(null, t[0], t[1], "%")) {
                    while (rs.next()) {
                        out("column", q + "." + rs.getString("COLUMN_NAME"), rs.getInt("ORDINAL_POSITION"),
                                rs.getString("TYPE_NAME"), rs.getInt("DATA_TYPE"), rs.getInt("COLUMN_SIZE"),
                                rs.getString("IS_NULLABLE"), rs.getString("REMARKS"));
                    }
                }
                try (ResultSet rs = md.getPrimaryKeys(null, t[0], t[1])) {
                    while (rs.next()) {
                        out("pk", q, rs.getString("COLUMN_NAME"), rs.getInt("KEY_SEQ"), rs.getString("PK_NAME"));
                    }
                }
                try (ResultSet rs = md.getIndexInfo(null, t[0], t[1], false, false)) {
                    while (rs.next()) {
                        out("index", q, rs.getString("INDEX_NAME"), rs.getBoolean("NON_UNIQUE") ? "non-unique" : "unique",
                                rs.getInt("ORDINAL_POSITION"), rs.getString("COLUMN_NAME"));
                    }
                }
                try (ResultSet rs = md.getImportedKeys(null, t[0], t[1])) {
                    while (rs.next()) {
                        out("fk", q + "." + rs.getString("FKCOLUMN_NAME"),
                                rs.getString("PKTABLE_SCHEM") + "." + rs.getString("PKTABLE_NAME") + "." + rs.getString("PKCOLUMN_NAME"),
                                rs.getString("FK_NAME"), rs.getInt("KEY_SEQ"), rs.getInt("DELETE_RULE"));
                    }
                }
            }

            // A PreparedStatement round trip: parameters of several types
            // written into a scratch table and read back.
            try (PreparedStatement ps = c.prepareStatement(
                    "INSERT INTO public.purchases (purchase_id, client_id, amount, paid, day, at, note, ratio) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")) {
                ps.setInt(1, 3);
                ps.setLong(2, 9000000000L);
                ps.setBigDecimal(3, new BigDecimal("1234.56"));
                ps.setBoolean(4, true);
                ps.setDate(5, Date.valueOf("2024-05-03"));
                ps.setObject(6, OffsetDateTime.of(2024, 5, 3, 12, 30, 15, 250_000_000, ZoneOffset.ofHours(2)));
                ps.setString(7, "it's \"quoted\" ünïcode");
                ps.setDouble(8, 0.125);
                out("insert", ps.executeUpdate());
            }
            try (PreparedStatement ps = c.prepareStatement(
                    "SELECT purchase_id, client_id, amount, paid, day, at, note, ratio FROM public.purchases WHERE client_id = ? AND amount > ? AND paid = ? ORDER BY purchase_id")) {
                for (int run = 0; run < 3; run++) { // the third run uses the named server-side statement
                    ps.setLong(1, 9000000000L);
                    ps.setBigDecimal(2, new BigDecimal("10"));
                    ps.setBoolean(3, true);
                    try (ResultSet rs = ps.executeQuery()) {
                        ResultSetMetaData m = rs.getMetaData();
                        if (run == 0) {
                            for (int i = 1; i <= m.getColumnCount(); i++) {
                                out("rstype", m.getColumnName(i), m.getColumnTypeName(i), m.getColumnClassName(i));
                            }
                        }
                        while (rs.next()) {
                            OffsetDateTime at = rs.getObject(6, OffsetDateTime.class);
                            out("row" + run, rs.getInt(1), rs.getLong(2), rs.getBigDecimal(3).toPlainString(), rs.getBoolean(4),
                                    rs.getDate(5), at == null ? "null" : at.withOffsetSameInstant(ZoneOffset.UTC), rs.getString(7), rs.getDouble(8));
                        }
                    }
                }
            }
            try (PreparedStatement ps = c.prepareStatement(
                    "SELECT order_id, status, total_cents, currency, placed_at FROM canonical.commercial_orders WHERE order_id = ?")) {
                ps.setString(1, "o-2");
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        OffsetDateTime at = rs.getObject(5, OffsetDateTime.class);
                        out("order", rs.getString(1), rs.getString(2), rs.getLong(3), rs.getString(4), at.withOffsetSameInstant(ZoneOffset.UTC));
                    }
                    // The authority label: a NOTICE (a warning in JDBC) and
                    // the dualgate.authority parameter status.
                    for (SQLWarning w = ps.getWarnings(); w != null; w = w.getNextWarning()) out("notice", w.getMessage());
                }
                PGConnection pg = c.unwrap(PGConnection.class);
                out("label", pg.getParameterStatus("dualgate.authority"), pg.getParameterStatus("dualgate.as_of") != null);
            }
            try (Statement st = c.createStatement()) {
                st.executeQuery("SELECT * FROM public.no_such_table").close();
            } catch (SQLException e) {
                out("error", e.getSQLState());
            }
        }
    }
}
