fn main() {
    println!("netdatactl: not yet implemented");
}
