//! Lets the built binaries find libsherpa-onnx-c-api.so (and the ONNX Runtime beside it)
//! without LD_LIBRARY_PATH. sherpa-onnx-sys adds an rpath too, but only to its own link
//! line, which does not reach this crate's binaries and test executables.
//!
//! HEARKEN_PACKAGE_BUILD=1 (`make deb`) leaves out the build tree's library directory:
//! the packaged binary finds its libraries in /usr/lib/hearken only, and an rpath into
//! the build machine's disk is a packaging error (lintian: custom-library-search-path).
use std::env;

fn main() {
    println!("cargo:rerun-if-env-changed=SHERPA_ONNX_LIB_DIR");
    println!("cargo:rerun-if-env-changed=HEARKEN_PACKAGE_BUILD");
    let package_build = env::var_os("HEARKEN_PACKAGE_BUILD").is_some_and(|v| v == "1");
    match env::var_os("SHERPA_ONNX_LIB_DIR") {
        Some(dir) if !package_build => {
            let dir = dir.to_string_lossy();
            println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
            println!("cargo:rustc-env=HEARKEN_BUILD_LIB_DIR={dir}");
        }
        _ => println!("cargo:rustc-env=HEARKEN_BUILD_LIB_DIR="),
    }
    // Installed layouts: /usr/bin/hearken with its libraries in /usr/lib/hearken.
    println!("cargo:rustc-link-arg=-Wl,-rpath,$ORIGIN/../lib/hearken");
    if !package_build {
        // target/<profile>/, where sherpa-onnx-sys copies the libraries.
        println!("cargo:rustc-link-arg=-Wl,-rpath,$ORIGIN");
    }
}
