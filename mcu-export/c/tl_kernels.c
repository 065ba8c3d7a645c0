/* tl_kernels.c: being written in branch wt-ck */
