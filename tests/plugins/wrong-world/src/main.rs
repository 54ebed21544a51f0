fn main() {
    println!("I am a plain wasi:cli command, not an lmi plugin");
}
