// wordfreq (Rust): reads every file under a mounted directory and writes a word-frequency
// report as a file. Shows a program in another language running unchanged on Mesh, with files in
// and files out (WASI preview1 through Rust's std::fs).
//
// Args: [IN_DIR] [OUT_FILE] (default /data and /out/wordfreq.txt).
// Output file: "<count> <word>\n" for the 20 most frequent words (ties by word), then a line
// "files <n> words <total>". Stdout: one line saying what it read and wrote. Exit 1 on an I/O
// error, naming the path.
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::exit;

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(&entry.path(), files)?;
        } else if kind.is_file() {
            files.push(entry.path());
        }
    }
    Ok(())
}

fn run(input: &Path, output: &Path) -> Result<String, String> {
    let mut files = Vec::new();
    walk(input, &mut files).map_err(|e| format!("{}: {}", input.display(), e))?;
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut total = 0u64;
    for file in &files {
        let bytes = fs::read(file).map_err(|e| format!("{}: {}", file.display(), e))?;
        let text = String::from_utf8_lossy(&bytes);
        for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
            *counts.entry(word.to_lowercase()).or_insert(0) += 1;
            total += 1;
        }
    }
    let mut ranked: Vec<(&String, &u64)> = counts.iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let mut report = String::new();
    for (word, count) in ranked.iter().take(20) {
        report.push_str(&format!("{} {}\n", count, word));
    }
    report.push_str(&format!("files {} words {}\n", files.len(), total));
    if let Some(parent) = output.parent() {
        fs::create_dir_all(parent).map_err(|e| format!("{}: {}", parent.display(), e))?;
    }
    let mut out = fs::File::create(output).map_err(|e| format!("{}: {}", output.display(), e))?;
    out.write_all(report.as_bytes()).map_err(|e| format!("{}: {}", output.display(), e))?;
    Ok(format!(
        "wordfreq: {} files, {} words, {} distinct; report in {}",
        files.len(),
        total,
        counts.len(),
        output.display()
    ))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let input = PathBuf::from(args.get(1).map(String::as_str).unwrap_or("/data"));
    let output = PathBuf::from(args.get(2).map(String::as_str).unwrap_or("/out/wordfreq.txt"));
    match run(&input, &output) {
        Ok(line) => println!("{}", line),
        Err(e) => {
            eprintln!("wordfreq: {}", e);
            exit(1);
        }
    }
}
