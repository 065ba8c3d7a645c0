//! Audio: the MFCC front end of keyword spotting ([`mfcc`]), seeded augmentation ([`augment`]) and the
//! spoken-keyword data set ([`kws`], with its bundled quick form in [`bundle`]).

pub mod augment;
pub mod bundle;
pub mod kws;
pub mod mfcc;
