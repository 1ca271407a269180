//! Nothing here: this package exists for its test (tests/car_client.rs).
