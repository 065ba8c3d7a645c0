//! An integer-only inference engine following TFLite Micro's int8 specification (being written).
