# The standalone MongoDB-compatible store (FerretDB on PostgreSQL): see deploy/store/README.md.
# Settings go through the environment: STORE_BACKEND=sqlite make store-up, STORE_ADDR=..., etc.

STORE_SH := deploy/store/store.sh

.PHONY: store-up store-down store-status store-clean

## store-up: FerretDB on PostgreSQL (installed and started if needed) on 127.0.0.1:27017; STORE_BACKEND=sqlite for SQLite
store-up: build
	@STORE_POSTPIPE_BIN='$(BIN)' GO='$(GO)' $(STORE_SH) up

## store-down: stop FerretDB (and PostgreSQL if store-up started it)
store-down:
	@$(STORE_SH) down

## store-status: is it running and answering a ping
store-status:
	@$(STORE_SH) status || [ $$? -eq 3 ]

## store-clean: store-down, drop the PostgreSQL database and role, remove .store/
store-clean:
	@$(STORE_SH) clean
