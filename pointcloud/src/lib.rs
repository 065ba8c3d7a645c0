//! `tinylab-pointcloud`: point, voxel and sparse operations and point-cloud models.
//!
//! Planned contents: point-based and voxel-based layers (PointNet-style, sparse convolution) on the
//! autograd of `tinylab-classical`.
//!
//! Dependency rule: may import `tinylab-classical`.

#![forbid(unsafe_code)]
