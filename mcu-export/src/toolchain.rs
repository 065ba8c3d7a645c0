//! (being written in branch wt-arm)
