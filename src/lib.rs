//! Host package of the end-to-end tests in tests/; no code of its own.
