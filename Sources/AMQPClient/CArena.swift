internal import CRabbitMQ
import Glibc

/// Owns C memory built for one librabbitmq call (strings, tables, properties) and frees it all at once.
///
/// librabbitmq only borrows what it is given, so everything a call needs lives in an arena
/// that outlives the call: `amqp_cstring_bytes` on a temporary Swift string would dangle.
final class CArena {
    private var allocations: [UnsafeMutableRawPointer] = []

    deinit {
        for pointer in allocations { free(pointer) }
    }

    /// Runs `body` with a fresh arena and frees it afterwards.
    static func with<Result>(_ body: (CArena) throws -> Result) rethrows -> Result {
        let arena = CArena()
        return try withExtendedLifetime(arena) { try body(arena) }
    }

    /// Copies `bytes` into C memory owned by the arena.
    func bytes(_ bytes: some Collection<UInt8>) -> amqp_bytes_t {
        guard !bytes.isEmpty else { return amqp_bytes_t(len: 0, bytes: nil) }
        let pointer = allocate(bytes.count)
        let buffer = UnsafeMutableRawBufferPointer(start: pointer, count: bytes.count)
        buffer.copyBytes(from: bytes)
        return amqp_bytes_t(len: bytes.count, bytes: pointer)
    }

    /// Copies a string's UTF-8 into C memory owned by the arena.
    func bytes(_ string: String) -> amqp_bytes_t {
        bytes(Array(string.utf8))
    }

    /// A NUL-terminated copy of `string`.
    func cString(_ string: String) -> UnsafePointer<CChar> {
        let utf8 = Array(string.utf8CString)
        let pointer = allocate(utf8.count).bindMemory(to: CChar.self, capacity: utf8.count)
        pointer.update(from: utf8, count: utf8.count)
        return UnsafePointer(pointer)
    }

    /// Encodes `table` as an `amqp_table_t` whose memory the arena owns.
    func table(_ table: AMQPTable) -> amqp_table_t {
        guard !table.isEmpty else { return amqp_empty_table }
        let entries = allocate(MemoryLayout<amqp_table_entry_t>.stride * table.count)
            .bindMemory(to: amqp_table_entry_t.self, capacity: table.count)
        // Sorted keys keep the encoding deterministic.
        for (index, key) in table.keys.sorted().enumerated() {
            entries[index] = amqp_table_entry_t(key: bytes(key), value: fieldValue(table[key]!))
        }
        return amqp_table_t(num_entries: Int32(table.count), entries: entries)
    }

    /// Encodes one field value.
    func fieldValue(_ value: AMQPFieldValue) -> amqp_field_value_t {
        var field = amqp_field_value_t()
        switch value {
        case .bool(let flag):
            field.kind = UInt8(AMQP_FIELD_KIND_BOOLEAN.rawValue)
            field.value.boolean = flag ? 1 : 0
        case .int(let number):
            field.kind = UInt8(AMQP_FIELD_KIND_I64.rawValue)
            field.value.i64 = number
        case .double(let number):
            field.kind = UInt8(AMQP_FIELD_KIND_F64.rawValue)
            field.value.f64 = number
        case .string(let string):
            field.kind = UInt8(AMQP_FIELD_KIND_UTF8.rawValue)
            field.value.bytes = bytes(string)
        case .bytes(let data):
            field.kind = UInt8(AMQP_FIELD_KIND_BYTES.rawValue)
            field.value.bytes = bytes(data)
        case .timestamp(let seconds):
            field.kind = UInt8(AMQP_FIELD_KIND_TIMESTAMP.rawValue)
            field.value.u64 = seconds
        case .table(let nested):
            field.kind = UInt8(AMQP_FIELD_KIND_TABLE.rawValue)
            field.value.table = table(nested)
        case .array(let elements):
            field.kind = UInt8(AMQP_FIELD_KIND_ARRAY.rawValue)
            let entries = allocate(MemoryLayout<amqp_field_value_t>.stride * max(elements.count, 1))
                .bindMemory(to: amqp_field_value_t.self, capacity: max(elements.count, 1))
            for (index, element) in elements.enumerated() { entries[index] = fieldValue(element) }
            field.value.array = amqp_array_t(num_entries: Int32(elements.count), entries: entries)
        case .void:
            field.kind = UInt8(AMQP_FIELD_KIND_VOID.rawValue)
        }
        return field
    }

    /// Encodes message properties; the result borrows the arena's memory.
    func properties(_ properties: AMQPMessageProperties) -> amqp_basic_properties_t {
        var c = amqp_basic_properties_t()
        var flags: UInt32 = 0
        if properties.persistent {
            c.delivery_mode = 2
            flags |= UInt32(AMQP_BASIC_DELIVERY_MODE_FLAG)
        }
        if let value = properties.contentType {
            c.content_type = bytes(value)
            flags |= UInt32(AMQP_BASIC_CONTENT_TYPE_FLAG)
        }
        if let value = properties.messageId {
            c.message_id = bytes(value)
            flags |= UInt32(AMQP_BASIC_MESSAGE_ID_FLAG)
        }
        if let value = properties.type {
            c.type = bytes(value)
            flags |= UInt32(AMQP_BASIC_TYPE_FLAG)
        }
        if let value = properties.timestamp {
            c.timestamp = value
            flags |= UInt32(AMQP_BASIC_TIMESTAMP_FLAG)
        }
        if let value = properties.correlationId {
            c.correlation_id = bytes(value)
            flags |= UInt32(AMQP_BASIC_CORRELATION_ID_FLAG)
        }
        if let value = properties.replyTo {
            c.reply_to = bytes(value)
            flags |= UInt32(AMQP_BASIC_REPLY_TO_FLAG)
        }
        if let value = properties.expiration {
            c.expiration = bytes(value)
            flags |= UInt32(AMQP_BASIC_EXPIRATION_FLAG)
        }
        if !properties.headers.isEmpty {
            c.headers = table(properties.headers)
            flags |= UInt32(AMQP_BASIC_HEADERS_FLAG)
        }
        c._flags = amqp_flags_t(flags)
        return c
    }

    private func allocate(_ count: Int) -> UnsafeMutableRawPointer {
        guard let pointer = malloc(max(count, 1)) else { fatalError("out of memory") }
        allocations.append(pointer)
        return pointer
    }
}
