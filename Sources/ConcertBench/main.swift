import AMQPClient
import ArgumentParser
print("x")
