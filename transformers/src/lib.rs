//! `tinylab-transformers`: attention variants and efficient transformer models.
//!
//! Planned contents: multi-head attention and its efficient variants, small transformer models built
//! on the autograd of `tinylab-classical`, compressed with its shared passes.
//!
//! Dependency rule: may import `tinylab-classical`.

#![forbid(unsafe_code)]
