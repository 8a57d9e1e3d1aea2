// Package pgerror holds the error type that reaches Postgres clients: every
// error the gateway sends carries a SQLSTATE, a severity and a message, and
// optionally a detail, a hint and a 1-based cursor position into the query.
package pgerror

import (
	"errors"
	"fmt"
)

// SQLSTATE codes used across the gateway. Names follow PostgreSQL's
// errcodes.txt so a reader can look them up there.
const (
	SuccessfulCompletion        = "00000"
	Warning                     = "01000"
	ConnectionException         = "08000"
	ProtocolViolation           = "08P01"
	FeatureNotSupported         = "0A000"
	InvalidParameterValue       = "22023"
	DataException               = "22000"
	NumericValueOutOfRange      = "22003"
	InvalidTextRepresentation   = "22P02"
	InvalidBinaryRepresentation = "22P03"
	BadCopyFileFormat           = "22P04"
	InvalidDatetimeFormat       = "22007"
	DivisionByZero              = "22012"
	StringDataRightTruncation   = "22001"
	NotNullViolation            = "23502"
	ForeignKeyViolation         = "23503"
	UniqueViolation             = "23505"
	CheckViolation              = "23514"
	InvalidTransactionState     = "25000"
	ActiveSQLTransaction        = "25001"
	NoActiveSQLTransaction      = "25P01"
	InFailedSQLTransaction      = "25P02"
	InvalidSQLStatementName     = "26000"
	InvalidAuthorization        = "28000"
	InvalidPassword             = "28P01"
	InvalidCursorName           = "34000"
	InvalidSavepointSpec        = "3B001"
	InvalidCatalogName          = "3D000"
	InvalidSchemaName           = "3F000"
	SyntaxError                 = "42601"
	InsufficientPrivilege       = "42501"
	UndefinedColumn             = "42703"
	UndefinedFunction           = "42883"
	UndefinedTable              = "42P01"
	UndefinedParameter          = "42P02"
	UndefinedObject             = "42704"
	DuplicateTable              = "42P07"
	DuplicateObject             = "42710"
	DuplicateColumn             = "42701"
	AmbiguousColumn             = "42702"
	DatatypeMismatch            = "42804"
	IndeterminateDatatype       = "42P18"
	GroupingError               = "42803"
	ProgramLimitExceeded        = "54000"
	QueryCanceled               = "57014"
	AdminShutdown               = "57P01"
	InternalError               = "XX000"
)

// Error is an error with the fields of a Postgres ErrorResponse.
type Error struct {
	Severity string // ERROR, FATAL, PANIC (default ERROR)
	Code     string // SQLSTATE
	Message  string
	Detail   string
	Hint     string
	Position int32 // 1-based character position in the query, 0 if unknown
	cause    error
}

// Error implements error.
func (e *Error) Error() string {
	if e.Detail != "" {
		return fmt.Sprintf("%s (SQLSTATE %s): %s", e.Message, e.Code, e.Detail)
	}
	return fmt.Sprintf("%s (SQLSTATE %s)", e.Message, e.Code)
}

// Unwrap returns the error this one was made from, if any.
func (e *Error) Unwrap() error { return e.cause }

// New returns an ERROR with the given SQLSTATE and formatted message.
func New(code, format string, args ...any) *Error {
	return &Error{Severity: "ERROR", Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an ERROR with the given SQLSTATE whose message is err's text
// and which unwraps to err.
func Wrap(code string, err error) *Error {
	return &Error{Severity: "ERROR", Code: code, Message: err.Error(), cause: err}
}

// WithHint returns e with its hint set.
func (e *Error) WithHint(format string, args ...any) *Error {
	e.Hint = fmt.Sprintf(format, args...)
	return e
}

// WithDetail returns e with its detail set.
func (e *Error) WithDetail(format string, args ...any) *Error {
	e.Detail = fmt.Sprintf(format, args...)
	return e
}

// WithPosition returns e with its 1-based cursor position set.
func (e *Error) WithPosition(pos int) *Error {
	e.Position = int32(pos)
	return e
}

// As returns err as an *Error if one is in its chain.
func As(err error) (*Error, bool) {
	var pe *Error
	if errors.As(err, &pe) {
		return pe, true
	}
	return nil, false
}

// Unsupported is the 0A000 error naming a construct dualgate does not run.
func Unsupported(construct string) *Error {
	return New(FeatureNotSupported, "%s is not supported by dualgate", construct)
}
