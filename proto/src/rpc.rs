//! `rpc.discover`: the OpenRPC document of every registered method.

use crate::NoParams;

crate::method!(
    Discover, "rpc.discover", NoParams => serde_json::Value,
    "Return the OpenRPC 1.3 document describing every method, generated from the registry."
);
