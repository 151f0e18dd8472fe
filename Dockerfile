# entra-drift for unattended audits (README, "Containers"). Build from the repository root:
#   docker build -t <registry>/entra-drift:<tag> .
# CI has no Docker engine, so this file is checked by review; the binary it packages is the one
# the tests run.

# The toolchain the project is built and tested with. Bookworm so that the binary's glibc is the
# runtime image's (debian12): a binary built on a newer glibc would not start there.
FROM rust:1.95-bookworm AS build
# azure_identity's certificate credential links the system OpenSSL (openssl-sys finds it through
# pkg-config); listed here rather than relied on from the base image's extras.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only what cargo needs to load the workspace: the manifest and lock, the workspace members
# (crates/entra-model, crates/fake-graph), the sources, and benches/ because the manifest
# declares [[bench]] xlsx — cargo refuses a manifest whose bench file is missing, even when it
# builds no bench. Tests and fixtures are not needed for `cargo build --bin`.
COPY Cargo.toml Cargo.lock build.rs ./
COPY crates/ crates/
COPY src/ src/
COPY benches/ benches/
# The commit `--version` names (the context holds no .git): docker build --build-arg
# ENTRA_DRIFT_COMMIT=$(git rev-parse --short=12 HEAD) .
ARG ENTRA_DRIFT_COMMIT=unknown
ENV ENTRA_DRIFT_COMMIT=${ENTRA_DRIFT_COMMIT}
# --locked: exactly the dependency versions that were tested, or fail instead of resolving anew.
RUN cargo build --release --locked --bin entra-drift

# distroless "cc", not "base": base-debian12 has glibc and libssl3 but not libgcc_s.so.1, which
# every Rust binary linked against glibc loads for unwinding (readelf -d on the release binary:
# libssl.so.3, libcrypto.so.3, libgcc_s.so.1, libm, libc) — on base it would not even start.
# cc is base plus libgcc: libssl3 for certificate credentials, the CA certificates that TLS trusts
# (reqwest reads the system store), tzdata, /tmp; no shell, no package manager to attack.
# The :nonroot variant ships the uid 65532 user and its home.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/entra-drift /usr/local/bin/entra-drift
# 65532 is "nonroot". Numeric, because Kubernetes' runAsNonRoot can only verify a numeric user.
USER 65532:65532
# A writable home for anything that defaults to it; nothing in the image is writable otherwise.
WORKDIR /home/nonroot
# Exec form: there is no shell to run a string. JSON log lines are what Log Analytics and log
# pipelines parse; progress bars are off anyway when stderr is not a terminal.
ENTRYPOINT ["/usr/local/bin/entra-drift", "--log-format", "json"]
# The scheduled job's command; arguments after the image name replace it
# (e.g. `docker run IMAGE evidence verify <url>`).
CMD ["audit"]
