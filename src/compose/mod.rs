//! compose (in progress)
