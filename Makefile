# dualgate — the two commands a newcomer needs are `make run` and `make test`.
GO ?= go
PKGS := ./...

.PHONY: run build test test-short vet fuzz bench bench-memory

## run: start dualgate with the embedded store and demo data on 127.0.0.1:5433
run:
	$(GO) run ./cmd/dualgate demo

build:
	$(GO) build -o bin/dualgate ./cmd/dualgate

## test: everything CI runs (vet, gofmt, race-enabled tests, fuzz seeds)
test: vet
	$(GO) test -race -count=1 -timeout 30m $(PKGS)
	# The client matrix (psql, pgJDBC, SQLAlchemy, node-postgres) skips
	# itself under -race, where the clients take minutes: run it plainly.
	$(GO) test -count=1 -timeout 10m -run TestClients ./cmd/dualgate/

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1)
	$(GO) vet $(PKGS)

## fuzz: long fuzzing runs (CI runs only the seeds, as part of test)
FUZZTIME ?= 60s
fuzz:
	$(GO) test ./gateway/ -run '^$$' -fuzz FuzzCopyParser -fuzztime $(FUZZTIME)
	$(GO) test ./gateway/ -run '^$$' -fuzz FuzzMessages -fuzztime $(FUZZTIME)
	$(GO) test ./gateway/ -run '^$$' -fuzz FuzzDecodeBind -fuzztime $(FUZZTIME)
	$(GO) test ./gateway/ -run '^$$' -fuzz FuzzDecodeAuditBatch -fuzztime $(FUZZTIME)
	$(GO) test ./gateway/dialect/ -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME)
	$(GO) test ./gateway/pgcatalog/ -run '^$$' -fuzz FuzzParseIdent -fuzztime $(FUZZTIME)
	$(GO) test ./gateway/pgtypes/ -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME)
	$(GO) test ./catalog/ -run '^$$' -fuzz FuzzLoad -fuzztime $(FUZZTIME) -fuzzminimizetime 3s
	$(GO) test ./canonical/ -run '^$$' -fuzz FuzzDecodeKey -fuzztime $(FUZZTIME)
	$(GO) test ./canonical/ -run '^$$' -fuzz FuzzDecodeRow -fuzztime $(FUZZTIME)
	$(GO) test ./canonical/audit/ -run '^$$' -fuzz FuzzDecodeBatch -fuzztime $(FUZZTIME)
	$(GO) test ./cmd/dgbench/ -run '^$$' -fuzz FuzzFloorConn -fuzztime $(FUZZTIME)

## bench: dualgate vs PostgreSQL 15 side by side (see BENCHMARKS.md); it
## includes the memory bar (a `dualgate serve` process over 1M canonical rows
## x 10 versions, about 2 minutes) and the sidecar-start bar
BENCHFLAGS ?= -rows 100000 -duration 20s
bench:
	$(GO) run ./cmd/dgbench $(BENCHFLAGS)
	$(GO) test ./canonical/ -run '^$$' -bench 'Get|Commit' -benchtime 2000x
	$(GO) test ./canonical/ -run '^$$' -bench 'Scan' -benchtime 10x

## bench-memory: only the memory and sidecar-start bars (real `dualgate serve`
## processes), plus the memory bar's store served with a 1M-row projection in
## the embedded store for reference (about 4 minutes)
bench-memory:
	$(GO) run ./cmd/dgbench -only memory,sidecar -memory-projection
