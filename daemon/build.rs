//! Lets the built binaries find libsherpa-onnx-c-api.so (and the ONNX Runtime beside it)
//! without LD_LIBRARY_PATH. sherpa-onnx-sys adds an rpath too, but only to its own link
//! line, which does not reach this crate's binaries and test executables.
use std::env;

fn main() {
    println!("cargo:rerun-if-env-changed=SHERPA_ONNX_LIB_DIR");
    if let Some(dir) = env::var_os("SHERPA_ONNX_LIB_DIR") {
        let dir = dir.to_string_lossy();
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
        println!("cargo:rustc-env=HEARKEN_BUILD_LIB_DIR={dir}");
    } else {
        println!("cargo:rustc-env=HEARKEN_BUILD_LIB_DIR=");
    }
    // Installed layouts: /usr/bin/hearken with its libraries in /usr/lib/hearken.
    println!("cargo:rustc-link-arg=-Wl,-rpath,$ORIGIN/../lib/hearken");
    println!("cargo:rustc-link-arg=-Wl,-rpath,$ORIGIN");
}
