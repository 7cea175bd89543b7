//! dlopen/dlsym/dlerror from the C library (glibc ≥ 2.34 has them in libc proper; no crates).
use std::ffi::{c_char, c_int, c_void, CStr, CString};

extern "C" {
    fn dlopen(filename: *const c_char, flag: c_int) -> *mut c_void;
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
    fn dlerror() -> *mut c_char;
}

const RTLD_NOW: c_int = 2;
const RTLD_LOCAL: c_int = 0;

pub struct Library(*mut c_void);

fn last_dl_error() -> String {
    // SAFETY: dlerror returns a thread-local C string or null.
    unsafe {
        let e = dlerror();
        if e.is_null() { "unknown dlopen error".into() } else { CStr::from_ptr(e).to_string_lossy().into_owned() }
    }
}

impl Library {
    pub fn open(path: &str) -> Result<Library, String> {
        let c = CString::new(path).map_err(|_| "path contains NUL".to_string())?;
        // SAFETY: a valid C string; the handle is kept for the process lifetime (never closed:
        // a NativeAOT runtime cannot be unloaded).
        let h = unsafe { dlopen(c.as_ptr(), RTLD_NOW | RTLD_LOCAL) };
        if h.is_null() { Err(last_dl_error()) } else { Ok(Library(h)) }
    }

    /// The address of a NUL-terminated symbol name, or None.
    pub fn symbol(&self, name: &[u8]) -> Option<*mut c_void> {
        // SAFETY: handle from dlopen; name is NUL-terminated (the generated SYM_* constants are).
        let p = unsafe { dlsym(self.0, name.as_ptr() as *const c_char) };
        if p.is_null() { None } else { Some(p) }
    }
}
