package gateway

import "context"

// TxHooks is told when a session's unit of work ends, so writes buffered
// during it (raw ingest rows, steward corrections) become one durable
// commit before the client hears of success, or are dropped.
type TxHooks interface {
	// Commit makes the session's buffered writes durable. It returns
	// notices for the client (e.g. "received 10 = committed 8 + quarantined
	// 1 + duplicates 1"). An error fails the statement or the COMMIT.
	Commit(ctx context.Context, sessionID uint32, info SessionInfo) (notices []string, err error)
	// Rollback drops the session's buffered writes.
	Rollback(sessionID uint32)
}

// SessionInfo is what a commit needs to know about the session.
type SessionInfo struct {
	User          string
	CommitMessage string // SET dualgate.commit_message
}
