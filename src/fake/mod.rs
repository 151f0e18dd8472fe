//! A local fake of Microsoft Graph for tests, demos and benchmarks.
