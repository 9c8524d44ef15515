// What the management API answers, as far as this project reads it. Every field is optional: the
// broker leaves statistics out until it has collected them, and some only exist for some kinds
// of queue.

extension ManagementClient {
    /// A user's permissions in a virtual host: three regular expressions over resource names.
    public struct Permissions: Decodable, Sendable, Equatable {
        public let configure: String?
        public let write: String?
        public let read: String?
    }

    /// A binding: messages flow from `source` (an exchange) to `destination` with `routingKey`.
    public struct Binding: Decodable, Sendable, Equatable {
        public let source: String?
        public let destination: String?
        public let routingKey: String?

        enum CodingKeys: String, CodingKey {
            case source, destination
            case routingKey = "routing_key"
        }
    }

    /// A client connection: its broker-made name (`host:port -> host:port`) and the name the
    /// client gave itself, if any.
    public struct Connection: Decodable, Sendable, Equatable {
        public let name: String?
        public let clientProperties: ClientProperties?

        public struct ClientProperties: Decodable, Sendable, Equatable {
            public let connectionName: String?

            enum CodingKeys: String, CodingKey {
                case connectionName = "connection_name"
            }
        }

        enum CodingKeys: String, CodingKey {
            case name
            case clientProperties = "client_properties"
        }
    }

    /// A queue's figures and consumers.
    public struct Queue: Decodable, Sendable, Equatable {
        public let messagesReady: Int?
        public let messagesUnacknowledged: Int?
        public let consumers: Int?
        public let consumerDetails: [Consumer]?
        /// The single active consumer's tag (RabbitMQ names the field either way across versions).
        public let singleActiveConsumerTag: String?
        /// The node whose member leads a quorum queue.
        public let leader: String?
        /// A quorum queue's members, and those of them online (on a reachable node, following the leader).
        public let members: [String]?
        public let online: [String]?

        public struct Consumer: Decodable, Sendable, Equatable {
            public let consumerTag: String?
            public let channelDetails: ChannelDetails?

            public struct ChannelDetails: Decodable, Sendable, Equatable {
                public let connectionName: String?

                enum CodingKeys: String, CodingKey {
                    case connectionName = "connection_name"
                }
            }

            enum CodingKeys: String, CodingKey {
                case consumerTag = "consumer_tag"
                case channelDetails = "channel_details"
            }
        }

        /// The consumer that receives the queue's messages: the single active one, or the only one.
        public var activeConsumer: Consumer? {
            let details = consumerDetails ?? []
            return details.first { $0.consumerTag != nil && $0.consumerTag == singleActiveConsumerTag } ?? (details.count == 1 ? details.first : nil)
        }

        enum CodingKeys: String, CodingKey {
            case messagesReady = "messages_ready"
            case messagesUnacknowledged = "messages_unacknowledged"
            case consumers
            case consumerDetails = "consumer_details"
            case singleActiveConsumerTag = "single_active_consumer_tag"
            case singleActiveConsumerCTag = "single_active_consumer_ctag"
            case leader, members, online
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            messagesReady = try container.decodeIfPresent(Int.self, forKey: .messagesReady)
            messagesUnacknowledged = try container.decodeIfPresent(Int.self, forKey: .messagesUnacknowledged)
            consumers = try container.decodeIfPresent(Int.self, forKey: .consumers)
            consumerDetails = try container.decodeIfPresent([Consumer].self, forKey: .consumerDetails)
            singleActiveConsumerTag =
                try container.decodeIfPresent(String.self, forKey: .singleActiveConsumerTag)
                ?? container.decodeIfPresent(String.self, forKey: .singleActiveConsumerCTag)
            leader = try container.decodeIfPresent(String.self, forKey: .leader)
            members = try container.decodeIfPresent([String].self, forKey: .members)
            online = try container.decodeIfPresent([String].self, forKey: .online)
        }
    }
}
