package gateway

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dualgate/dualgate/gateway/pgerror"
)

// settingDef describes one session setting clients may SET, SHOW and RESET.
type settingDef struct {
	name     string // canonical spelling, as SHOW ALL prints it
	def      string // default value
	report   bool   // sent as ParameterStatus at startup and on change
	readOnly bool
	desc     string
	// check normalizes a new value or refuses it with a message saying
	// what would be accepted.
	check func(v string) (string, error)
}

func anyValue(v string) (string, error) { return v, nil }

func oneOf(opts ...string) func(string) (string, error) {
	return func(v string) (string, error) {
		for _, o := range opts {
			if strings.EqualFold(v, o) {
				return o, nil
			}
		}
		return "", fmt.Errorf("accepted values: %s", strings.Join(opts, ", "))
	}
}

func boolSetting(v string) (string, error) {
	switch strings.ToLower(v) {
	case "on", "true", "yes", "1", "t":
		return "on", nil
	case "off", "false", "no", "0", "f":
		return "off", nil
	}
	return "", fmt.Errorf("expected on or off")
}

func intSetting(lo, hi int) func(string) (string, error) {
	return func(v string) (string, error) {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < lo || n > hi {
			return "", fmt.Errorf("expected an integer between %d and %d", lo, hi)
		}
		return strconv.Itoa(n), nil
	}
}

// durationSetting accepts Postgres duration spellings: a bare number of
// milliseconds, or a number with one of the units us, ms, s, min, h, d.
func durationSetting(v string) (string, error) {
	d, err := parseDuration(v)
	if err != nil {
		return "", err
	}
	if d == 0 {
		return "0", nil
	}
	return formatDuration(d), nil
}

func parseDuration(v string) (time.Duration, error) {
	v = strings.TrimSpace(strings.ToLower(v))
	i := 0
	for i < len(v) && (v[i] >= '0' && v[i] <= '9' || v[i] == '.') {
		i++
	}
	n, err := strconv.ParseFloat(v[:i], 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("expected a duration such as 500, 250ms, 5s, 2min")
	}
	u, ok := durationUnits[strings.TrimSpace(v[i:])]
	if !ok {
		return 0, fmt.Errorf("unknown unit %q: use us, ms, s, min, h or d", v[i:])
	}
	return time.Duration(n * float64(u)), nil
}

var durationUnits = map[string]time.Duration{"": time.Millisecond, "us": time.Microsecond, "ms": time.Millisecond, "s": time.Second, "min": time.Minute, "h": time.Hour, "d": 24 * time.Hour}

func formatDuration(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dmin", d/time.Minute)
	case d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	default:
		return fmt.Sprintf("%dms", d/time.Millisecond)
	}
}

func timeZoneSetting(v string) (string, error) {
	if _, err := loadLocation(v); err != nil {
		return "", err
	}
	return v, nil
}

// loadLocation resolves a TimeZone value: an IANA name, UTC/GMT, or a
// numeric offset in hours (Postgres's SET TIME ZONE -5 means UTC-5).
func loadLocation(v string) (*time.Location, error) {
	switch strings.ToUpper(v) {
	case "UTC", "GMT", "Z", "ZULU":
		return time.UTC, nil
	}
	if h, err := strconv.ParseFloat(v, 64); err == nil && h >= -15 && h <= 15 {
		return time.FixedZone(v, int(h*3600)), nil
	}
	loc, err := time.LoadLocation(v)
	if err != nil {
		return nil, fmt.Errorf("time zone %q is not recognized; use an IANA name such as Europe/Paris or UTC", v)
	}
	return loc, nil
}

func dateStyleSetting(v string) (string, error) {
	parts := strings.Split(strings.ToUpper(strings.ReplaceAll(v, " ", "")), ",")
	iso := false
	for _, p := range parts {
		switch p {
		case "ISO":
			iso = true
		case "MDY", "DMY", "YMD", "":
		default:
			return "", fmt.Errorf("only the ISO output style is supported (for example \"ISO, MDY\")")
		}
	}
	if !iso {
		return "", fmt.Errorf("only the ISO output style is supported (for example \"ISO, MDY\")")
	}
	return "ISO, MDY", nil
}

func encodingSetting(v string) (string, error) {
	switch strings.ToUpper(strings.ReplaceAll(v, "-", "")) {
	case "UTF8", "UNICODE":
		return "UTF8", nil
	}
	return "", fmt.Errorf("only UTF8 is supported")
}

// settingDefs are the settings a session knows. Unknown names without a
// dot are refused (42704) as in Postgres; custom dotted names are stored.
var settingDefs = func() map[string]*settingDef {
	defs := []*settingDef{
		{name: "server_version", def: "15.0", report: true, readOnly: true, desc: "Server version, Postgres-compatible prefix then dualgate's own"},
		{name: "server_version_num", def: "150000", readOnly: true, desc: "Server version as an integer"},
		{name: "server_encoding", def: "UTF8", report: true, readOnly: true, desc: "Server character set"},
		{name: "client_encoding", def: "UTF8", report: true, check: encodingSetting, desc: "Client character set (UTF8 only)"},
		{name: "DateStyle", def: "ISO, MDY", report: true, check: dateStyleSetting, desc: "Date output style"},
		{name: "IntervalStyle", def: "postgres", report: true, check: oneOf("postgres"), desc: "Interval output style"},
		{name: "integer_datetimes", def: "on", report: true, readOnly: true, desc: "Datetimes are 64-bit integers"},
		{name: "standard_conforming_strings", def: "on", report: true, check: oneOf("on"), desc: "Backslashes are literal in '...' strings"},
		{name: "TimeZone", def: "UTC", report: true, check: timeZoneSetting, desc: "Time zone for timestamptz input and output"},
		{name: "application_name", def: "", report: true, check: anyValue, desc: "Name of the client application"},
		{name: "is_superuser", def: "off", report: true, readOnly: true, desc: "Whether the session user is a superuser"},
		{name: "session_authorization", def: "", report: true, readOnly: true, desc: "Session user name"},
		{name: "extra_float_digits", def: "1", check: intSetting(-15, 3), desc: "Float output precision adjustment"},
		{name: "search_path", def: `"$user", public`, check: anyValue, desc: "Schema search order for unqualified names"},
		{name: "statement_timeout", def: "0", check: durationSetting, desc: "Cancel statements running longer than this (0 = never)"},
		{name: "lock_timeout", def: "0", check: durationSetting, desc: "Accepted for compatibility"},
		{name: "idle_in_transaction_session_timeout", def: "0", check: durationSetting, desc: "Accepted for compatibility"},
		{name: "bytea_output", def: "hex", check: oneOf("hex"), desc: "bytea text output format"},
		{name: "client_min_messages", def: "notice", check: oneOf("debug5", "debug4", "debug3", "debug2", "debug1", "log", "notice", "warning", "error"), desc: "Lowest message level sent to the client"},
		{name: "default_transaction_isolation", def: "read committed", check: anyValue, desc: "Accepted for compatibility"},
		{name: "transaction_isolation", def: "read committed", check: anyValue, desc: "Accepted for compatibility"},
		{name: "default_transaction_read_only", def: "off", check: boolSetting, desc: "Accepted for compatibility"},
		{name: "max_identifier_length", def: "63", readOnly: true, desc: "Longest identifier"},
		{name: "max_index_keys", def: "32", readOnly: true, desc: "Most columns in an index key (pgJDBC reads it for foreign keys)"},
		{name: "max_function_args", def: "100", readOnly: true, desc: "Most arguments of a function"},
		{name: "block_size", def: "8192", readOnly: true, desc: "Size of a disk block, as Postgres reports it"},
		{name: "row_security", def: "on", check: boolSetting, desc: "Accepted for compatibility"},
		{name: "synchronous_commit", def: "on", check: anyValue, desc: "Accepted for compatibility; commits are always synchronous"},
		{name: "jit", def: "off", check: boolSetting, desc: "Accepted for compatibility"},
		{name: "work_mem", def: "4MB", check: anyValue, desc: "Accepted for compatibility"},
		{name: "escape_string_warning", def: "on", check: boolSetting, desc: "Accepted for compatibility"},
		{name: "dualgate.as_of", def: "", check: anyValue, desc: "Read canonical tables as of this commit (id, hash, HEAD~n or timestamp); empty = head"},
		{name: "dualgate.label_notices", def: "on", check: boolSetting, desc: "Send a NOTICE naming each result's authority"},
		{name: "dualgate.label_columns", def: "off", check: boolSetting, desc: "Append _authority and _as_of columns to results"},
		{name: "dualgate.max_staleness", def: "0", check: durationSetting, desc: "Largest lag a derived read may have (0 = unbounded)"},
		{name: "dualgate.stale_policy", def: "error", check: oneOf("error", "canonical"), desc: "What a too-stale derived read does"},
		{name: "dualgate.fast_path", def: "on", check: boolSetting, desc: "Answer whole-key point lookups without planning (off: always use the engine)"},
		{name: "dualgate.commit_message", def: "", check: anyValue, desc: "Message of the next steward correction commit"},
	}
	m := make(map[string]*settingDef, len(defs))
	for _, d := range defs {
		m[strings.ToLower(d.name)] = d
	}
	return m
}()

// reportedSettings are sent as ParameterStatus at startup, in this order.
var reportedSettings = []string{"server_version", "server_encoding", "client_encoding", "DateStyle", "IntervalStyle",
	"integer_datetimes", "standard_conforming_strings", "TimeZone", "application_name", "is_superuser", "session_authorization"}

// settings holds one session's values by lower-case name.
type settings struct {
	vals map[string]string

	// Parsed forms of settings read on every statement, each valid for
	// the raw value it was parsed from (compared on every use, so a value
	// changed by any path, SET, RESET, ROLLBACK or a direct vals write,
	// is never served stale).
	timeout, staleness parsedDuration
}

// parsedDuration caches parseDuration of one raw setting value.
type parsedDuration struct {
	raw   string
	d     time.Duration
	valid bool
}

// get returns parseDuration(raw), parsing only when raw changed.
func (p *parsedDuration) get(raw string) time.Duration {
	if p.valid && p.raw == raw {
		return p.d
	}
	d, _ := parseDuration(raw)
	p.raw, p.d, p.valid = raw, d, true
	return d
}

func newSettings(version string) *settings {
	s := &settings{vals: map[string]string{}}
	for k, d := range settingDefs {
		s.vals[k] = d.def
	}
	s.vals["server_version"] = "15.0 (dualgate " + version + ")"
	return s
}

func (s *settings) get(name string) string { return s.vals[strings.ToLower(name)] }

func (s *settings) clone() map[string]string {
	m := make(map[string]string, len(s.vals))
	for k, v := range s.vals {
		m[k] = v
	}
	return m
}

// set validates and stores a value; it returns the setting's canonical
// name and whether clients must be told (ParameterStatus).
func (s *settings) set(name, value string) (def *settingDef, err error) {
	key := strings.ToLower(name)
	d, ok := settingDefs[key]
	if !ok {
		if strings.Contains(key, ".") && !strings.HasPrefix(key, "dualgate.") {
			s.vals[key] = value
			return &settingDef{name: key}, nil
		}
		return nil, pgerror.New(pgerror.UndefinedObject, "unrecognized configuration parameter %q", name)
	}
	if d.readOnly {
		return nil, pgerror.New("55P02", "parameter %q cannot be changed", d.name)
	}
	v, err := d.check(value)
	if err != nil {
		return nil, pgerror.New(pgerror.InvalidParameterValue, "invalid value for parameter %q: %q", d.name, value).WithHint("%v", err)
	}
	s.vals[key] = v
	return d, nil
}

// reset returns a setting to its session default.
func (s *settings) reset(name string, defaults map[string]string) (*settingDef, error) {
	key := strings.ToLower(name)
	d, ok := settingDefs[key]
	if !ok {
		if strings.Contains(key, ".") {
			delete(s.vals, key)
			return &settingDef{name: key}, nil
		}
		return nil, pgerror.New(pgerror.UndefinedObject, "unrecognized configuration parameter %q", name)
	}
	if d.readOnly {
		return nil, pgerror.New("55P02", "parameter %q cannot be changed", d.name)
	}
	s.vals[key] = defaults[key]
	return d, nil
}

// show returns a setting's value for SHOW, refusing unknown names.
func (s *settings) show(name string) (string, string, error) {
	key := strings.ToLower(name)
	if d, ok := settingDefs[key]; ok {
		return strings.ToLower(d.name), s.vals[key], nil
	}
	if v, ok := s.vals[key]; ok {
		return key, v, nil
	}
	return "", "", pgerror.New(pgerror.UndefinedObject, "unrecognized configuration parameter %q", name)
}

// all lists (name, value, description) for SHOW ALL, sorted by name.
func (s *settings) all() [][3]string {
	out := make([][3]string, 0, len(s.vals))
	for k, v := range s.vals {
		desc := ""
		name := k
		if d, ok := settingDefs[k]; ok {
			desc, name = d.desc, d.name
		}
		out = append(out, [3]string{name, v, desc})
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i][0]) < strings.ToLower(out[j][0]) })
	return out
}

func (s *settings) statementTimeout() time.Duration {
	return s.timeout.get(s.vals["statement_timeout"])
}

// maxStaleness is dualgate.max_staleness (0: no bound).
func (s *settings) maxStaleness() time.Duration {
	return s.staleness.get(s.vals["dualgate.max_staleness"])
}
