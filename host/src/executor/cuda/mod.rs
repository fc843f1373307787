//! The CUDA executor: runs commands on the host's real GPU through its
//! `libcuda.so.1`, loaded at run time (no link-time CUDA dependency).
