#!/usr/bin/env bash
# Regenerates the committed protobuf and flatbuffer readers of the import/export commands:
#   host/src/model/onnx/onnx_proto.rs      from onnx.proto (the `onnx` PyPI package's copy,
#                                          version pinned in requirements.txt), by prost-build
#   host/src/model/tflite/schema_generated.rs  from TFLite's schema.fbs, by flatc
# Needs: protoc (Debian protobuf-compiler), flatc (Debian flatbuffers-compiler 2.0.8), cargo.
# Usage: gen-schemas.sh ONNX_PROTO TFLITE_SCHEMA_FBS
#   ONNX_PROTO: e.g. target/import-venv/lib/python3.11/site-packages/onnx/onnx.proto
#   TFLITE_SCHEMA_FBS: tensorflow/compiler/mlir/lite/schema/schema.fbs of tflite-micro or
#   tensorflow (used: tflite-micro 90b983c2b3f1480642e040bbd2ddb37b998f3424).
# Debian's flatc 2.0.8 does not parse attributes on enum values and union members, so the
# two `(deprecated)` marks there are dropped first (values and order are unchanged).
set -euo pipefail
cd "$(dirname "$0")/../.."
proto=$(realpath "$1")
fbs=$(realpath "$2")
work=target/schema-gen
rm -rf "$work" && mkdir -p "$work/src"

# ONNX: a throwaway crate whose only job is to run prost-build on onnx.proto.
cp "$proto" "$work/onnx.proto"
cat > "$work/Cargo.toml" <<'TOML'
[package]
name = "schema-gen"
version = "0.0.0"
edition = "2021"
publish = false
[workspace]
[dependencies]
prost-build = "=0.14.6"
TOML
cat > "$work/src/main.rs" <<'RS'
fn main() {
    let out = std::env::args().nth(1).expect("output dir");
    prost_build::Config::new()
        .out_dir(out)
        .compile_protos(&["onnx.proto"], &["."])
        .expect("prost-build");
}
RS
(cd "$work" && cargo run --quiet --release -- .)
cp "$work/onnx.rs" host/src/model/onnx/onnx_proto.rs

# TFLite.
sed -E 's/^(  [A-Za-z_0-9]+( = [0-9]+)?) \(deprecated\),/\1,/' "$fbs" > "$work/schema.fbs"
flatc --rust -o "$work" "$work/schema.fbs"
cp "$work/schema_generated.rs" host/src/model/tflite/schema_generated.rs
rustfmt --edition 2021 host/src/model/onnx/onnx_proto.rs host/src/model/tflite/schema_generated.rs
echo "generated host/src/model/onnx/onnx_proto.rs and host/src/model/tflite/schema_generated.rs"
