fn main() {
    println!("netdatad: not yet implemented");
}
