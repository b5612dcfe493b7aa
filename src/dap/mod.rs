//! Debug Adapter Protocol server (the only module that knows JSON).
