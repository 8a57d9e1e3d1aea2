package gateway

import (
	"context"
	"strings"

	"github.com/dolthub/go-mysql-server/sql"

	"github.com/dualgate/dualgate/gateway/pgtypes"
)

// sessionOf returns the live session of the connection running ctx's
// statement. Only that connection's goroutine runs the statement, so it
// may read the session.
func (s *Server) sessionOf(ctx context.Context) *session {
	sctx, ok := ctx.(*sql.Context)
	if !ok || sctx.Session == nil {
		return nil
	}
	s.mu.Lock()
	c := s.conns[sctx.Session.ID()]
	s.mu.Unlock()
	if c == nil {
		return nil
	}
	return c.sess
}

// dualgateTables are the gateway's own dualgate.* relations.
func (s *Server) dualgateTables() []SystemTable {
	return []SystemTable{
		{
			Name:        "last_result",
			Description: "DERIVED (non-authoritative): the label of this session's previous result, for tools that show neither notices nor parameter status",
			Columns: []SystemColumn{{"authority", pgtypes.Text}, {"as_of", pgtypes.Int8},
				{"relations", pgtypes.Text}, {"notice", pgtypes.Text}},
			Rows: func(ctx context.Context) ([][]any, error) {
				sess := s.sessionOf(ctx)
				if sess == nil || sess.labelSeq == 0 {
					return nil, nil
				}
				l := sess.lastLabel
				return [][]any{{l.Authority, int64(l.AsOf), strings.Join(l.Relations, ", "), l.Notice}}, nil
			},
		},
		{
			Name:        "sessions",
			Description: "DERIVED (non-authoritative): client connections open now",
			Columns: []SystemColumn{{"conn_id", pgtypes.Int8}, {"user_name", pgtypes.Text}, {"application_name", pgtypes.Text},
				{"client_addr", pgtypes.Text}, {"backend_start", pgtypes.Timestamptz}, {"state", pgtypes.Text}},
			Rows: func(context.Context) ([][]any, error) {
				s.mu.Lock()
				defer s.mu.Unlock()
				rows := make([][]any, 0, len(s.conns))
				for _, c := range s.conns {
					c.mu.Lock()
					state := "idle"
					if c.cancel != nil {
						state = "active"
					}
					c.mu.Unlock()
					rows = append(rows, []any{int64(c.id), c.user, c.appName, c.nc.RemoteAddr().String(), c.started.UTC(), state})
				}
				return rows, nil
			},
		},
	}
}
