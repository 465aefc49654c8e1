//! Webhooks (docs/compliance.md, "Webhooks").
