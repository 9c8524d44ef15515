import ArgumentParser
import ConcertApp
print("x")
