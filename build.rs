// The shared library's soname follows docs/api.md section 1 (Versioning):
// libeddy.so.0.<minor> before 1.0, so ABI breaks between minors are visible
// to the dynamic linker.
fn main() {
    let major = env!("CARGO_PKG_VERSION_MAJOR");
    let minor = env!("CARGO_PKG_VERSION_MINOR");
    let soname = if major == "0" {
        format!("libeddy.so.0.{minor}")
    } else {
        format!("libeddy.so.{major}")
    };
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");
    println!("cargo:rerun-if-changed=build.rs");
}
