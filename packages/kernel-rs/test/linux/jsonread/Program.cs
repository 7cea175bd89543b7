// Reads the JSON file named by argv[1] with File.ReadAllText and System.Text.Json, and prints
// what it found: the answer the test checks against the file it wrote into the tree.
using System;
using System.IO;
using System.Linq;
using System.Text.Json;

var path = args.Length > 0 ? args[0] : "/etc/agent.json";
var text = File.ReadAllText(path);
using var doc = JsonDocument.Parse(text);
var root = doc.RootElement;
var name = root.GetProperty("name").GetString();
var sum = root.GetProperty("weights").EnumerateArray().Sum(e => e.GetInt32());
var bytes = File.ReadAllBytes(path).Length;
Console.WriteLine($"json name={name} weights={root.GetProperty("weights").GetArrayLength()} sum={sum} bytes={bytes} exists={File.Exists(path)} missing={File.Exists("/etc/none.json")}");
var entries = Directory.GetFileSystemEntries("/etc").Select(Path.GetFileName).OrderBy(n => n, StringComparer.Ordinal);
Console.WriteLine($"etc {string.Join(",", entries)}");
