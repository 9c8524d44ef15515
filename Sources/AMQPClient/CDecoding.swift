internal import CRabbitMQ

/// Copies librabbitmq's borrowed C values into Swift values before the library's buffers are released.
enum CDecoding {
    static func string(_ bytes: amqp_bytes_t) -> String {
        guard bytes.len > 0, let pointer = bytes.bytes else { return "" }
        let buffer = UnsafeRawBufferPointer(start: pointer, count: bytes.len)
        return String(decoding: buffer, as: UTF8.self)
    }

    static func byteArray(_ bytes: amqp_bytes_t) -> [UInt8] {
        guard bytes.len > 0, let pointer = bytes.bytes else { return [] }
        return Array(UnsafeRawBufferPointer(start: pointer, count: bytes.len))
    }

    static func table(_ table: amqp_table_t) -> AMQPTable {
        var result = AMQPTable()
        guard table.num_entries > 0, let entries = table.entries else { return result }
        for index in 0..<Int(table.num_entries) {
            let entry = entries[index]
            result[string(entry.key)] = fieldValue(entry.value)
        }
        return result
    }

    static func fieldValue(_ field: amqp_field_value_t) -> AMQPFieldValue {
        switch UInt32(field.kind) {
        case AMQP_FIELD_KIND_BOOLEAN.rawValue: .bool(field.value.boolean != 0)
        case AMQP_FIELD_KIND_I8.rawValue: .int(Int64(field.value.i8))
        case AMQP_FIELD_KIND_U8.rawValue: .int(Int64(field.value.u8))
        case AMQP_FIELD_KIND_I16.rawValue: .int(Int64(field.value.i16))
        case AMQP_FIELD_KIND_U16.rawValue: .int(Int64(field.value.u16))
        case AMQP_FIELD_KIND_I32.rawValue: .int(Int64(field.value.i32))
        case AMQP_FIELD_KIND_U32.rawValue: .int(Int64(field.value.u32))
        case AMQP_FIELD_KIND_I64.rawValue: .int(field.value.i64)
        case AMQP_FIELD_KIND_U64.rawValue: .int(Int64(truncatingIfNeeded: field.value.u64))
        case AMQP_FIELD_KIND_F32.rawValue: .double(Double(field.value.f32))
        case AMQP_FIELD_KIND_F64.rawValue: .double(field.value.f64)
        case AMQP_FIELD_KIND_UTF8.rawValue: .string(string(field.value.bytes))
        case AMQP_FIELD_KIND_BYTES.rawValue: .bytes(byteArray(field.value.bytes))
        case AMQP_FIELD_KIND_TIMESTAMP.rawValue: .timestamp(field.value.u64)
        case AMQP_FIELD_KIND_TABLE.rawValue: .table(table(field.value.table))
        case AMQP_FIELD_KIND_ARRAY.rawValue: .array(array(field.value.array))
        default: .void
        }
    }

    static func array(_ array: amqp_array_t) -> [AMQPFieldValue] {
        guard array.num_entries > 0, let entries = array.entries else { return [] }
        return (0..<Int(array.num_entries)).map { fieldValue(entries[$0]) }
    }

    static func properties(_ c: amqp_basic_properties_t) -> AMQPMessageProperties {
        let flags = UInt32(c._flags)
        func has(_ flag: Int32) -> Bool { flags & UInt32(flag) != 0 }
        return AMQPMessageProperties(
            contentType: has(AMQP_BASIC_CONTENT_TYPE_FLAG) ? string(c.content_type) : nil,
            persistent: has(AMQP_BASIC_DELIVERY_MODE_FLAG) && c.delivery_mode == 2,
            messageId: has(AMQP_BASIC_MESSAGE_ID_FLAG) ? string(c.message_id) : nil,
            type: has(AMQP_BASIC_TYPE_FLAG) ? string(c.type) : nil,
            timestamp: has(AMQP_BASIC_TIMESTAMP_FLAG) ? c.timestamp : nil,
            correlationId: has(AMQP_BASIC_CORRELATION_ID_FLAG) ? string(c.correlation_id) : nil,
            replyTo: has(AMQP_BASIC_REPLY_TO_FLAG) ? string(c.reply_to) : nil,
            expiration: has(AMQP_BASIC_EXPIRATION_FLAG) ? string(c.expiration) : nil,
            headers: has(AMQP_BASIC_HEADERS_FLAG) ? table(c.headers) : [:]
        )
    }
}
