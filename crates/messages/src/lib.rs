//! Every NATS payload of the Cloud Foundry v1 control plane, as serde types, plus subject names.
