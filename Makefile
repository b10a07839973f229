# The two commands a newcomer runs (see README): `make run` and `make test`.
.PHONY: run test selftest env bundle

run:
	@bash scripts/run.sh $(ARGS)

test:
	@bash scripts/test.sh

selftest:
	@"$$(bash scripts/env.sh)/bin/bitnet-studio" selftest

env:
	@bash scripts/env.sh

# The desktop bundle: dist/bitnet-studio-<version>-linux-<arch>.tar.gz (packaging/build.sh).
bundle:
	@bash packaging/build.sh
