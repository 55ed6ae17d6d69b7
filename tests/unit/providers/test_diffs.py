import pytest

from codeloop.domain.diffs import (
    DiffDoesNotApply,
    DiffParseError,
    apply_unified_diff,
    extract_diff,
    parse_unified_diff,
)

APP = "".join(f"line {n}\n" for n in range(1, 21))


def reader(files: dict[str, str]):
    return files.get


def test_modifies_a_file_with_git_headers():
    diff = """\
diff --git a/src/app.py b/src/app.py
index 111..222 100644
--- a/src/app.py
+++ b/src/app.py
@@ -2,3 +2,4 @@
 line 2
-line 3
+line three
+line 3.5
 line 4
"""
    changed = apply_unified_diff(diff, reader({"src/app.py": APP})).files
    expected = APP.replace("line 3\n", "line three\nline 3.5\n")
    assert changed == {"src/app.py": expected}


def test_wrong_line_numbers_are_found_by_their_context_and_later_hunks_follow():
    diff = """\
--- a/app.py
+++ b/app.py
@@ -9,3 +9,3 @@
 line 4
-line 5
+line five
 line 6
@@ -30,3 +30,2 @@
 line 14
-line 15
 line 16
"""
    changed = apply_unified_diff(diff, reader({"app.py": APP})).files
    assert changed["app.py"] == APP.replace("line 5\n", "line five\n").replace("line 15\n", "")


def test_creates_deletes_and_renames_files():
    diff = """\
diff --git a/new.txt b/new.txt
new file mode 100644
--- /dev/null
+++ b/new.txt
@@ -0,0 +1,2 @@
+hello
+world
diff --git a/old.txt b/old.txt
deleted file mode 100644
--- a/old.txt
+++ /dev/null
@@ -1 +0,0 @@
-bye
diff --git a/a.py b/b.py
similarity index 90%
rename from a.py
rename to b.py
--- a/a.py
+++ b/b.py
@@ -1,2 +1,2 @@
 x = 1
-y = 2
+y = 3
"""
    files = {"old.txt": "bye\n", "a.py": "x = 1\ny = 2\n"}
    assert apply_unified_diff(diff, reader(files)).files == {
        "new.txt": "hello\nworld\n",
        "old.txt": None,
        "b.py": "x = 1\ny = 3\n",
        "a.py": None,
    }


def test_loose_model_output_blank_context_without_space_and_wrong_counts():
    content = "def f():\n    a = 1\n\n    return a\n"
    diff = "--- a/f.py\n+++ b/f.py\n@@ -1,3 +1,3 @@\n def f():\n-    a = 1\n+    a = 2\n\n     return a\n"
    assert apply_unified_diff(diff, reader({"f.py": content})).files == {
        "f.py": content.replace("a = 1", "a = 2")
    }


def test_trailing_whitespace_differences_still_apply():
    diff = "--- a/f.txt\n+++ b/f.txt\n@@ -1,2 +1,2 @@\n alpha\n-beta\n+gamma\n"
    assert apply_unified_diff(diff, reader({"f.txt": "alpha   \nbeta\n"})).files == {
        "f.txt": "alpha   \ngamma\n"
    }


def test_crlf_files_keep_their_line_endings():
    diff = "--- a/w.txt\n+++ b/w.txt\n@@ -1,2 +1,2 @@\n one\n-two\n+deux\n"
    assert apply_unified_diff(diff, reader({"w.txt": "one\r\ntwo\r\n"})).files == {"w.txt": "one\r\ndeux\r\n"}


def test_no_newline_at_end_of_file_markers():
    diff = """\
--- a/n.txt
+++ b/n.txt
@@ -1,2 +1,2 @@
 first
-last
\\ No newline at end of file
+last
"""
    assert apply_unified_diff(diff, reader({"n.txt": "first\nlast"})).files == {"n.txt": "first\nlast\n"}
    removing = (
        "--- a/n.txt\n+++ b/n.txt\n@@ -1,2 +1,2 @@\n first\n-last\n+end\n\\ No newline at end of file\n"
    )
    assert apply_unified_diff(removing, reader({"n.txt": "first\nlast\n"})).files == {"n.txt": "first\nend"}


def test_insertion_hunk_without_context_goes_after_the_named_line():
    diff = "--- a/f.txt\n+++ b/f.txt\n@@ -2,0 +3 @@\n+inserted\n"
    assert apply_unified_diff(diff, reader({"f.txt": "a\nb\nc\n"})).files == {"f.txt": "a\nb\ninserted\nc\n"}


def test_two_patches_to_the_same_file_apply_in_turn():
    first = "--- a/f.txt\n+++ b/f.txt\n@@ -1 +1 @@\n-a\n+b\n"
    second = "--- a/f.txt\n+++ b/f.txt\n@@ -1 +1 @@\n-b\n+c\n"
    assert apply_unified_diff(first + second, reader({"f.txt": "a\n"})).files == {"f.txt": "c\n"}


def test_a_hunk_that_does_not_apply_names_the_file_the_hunk_and_the_line():
    diff = """\
--- a/src/app.py
+++ b/src/app.py
@@ -2,2 +2,2 @@
 line 2
-line 3
+line three
@@ -10,3 +10,3 @@
 line 10
-line eleven
+line 11b
 line 12
"""
    with pytest.raises(DiffDoesNotApply) as caught:
        apply_unified_diff(diff, reader({"src/app.py": APP}))
    message = str(caught.value)
    assert message.startswith("src/app.py: hunk 2 (@@ -10,3 +10,3 @@) does not apply")
    assert "expected line 11 to be 'line eleven', found 'line 11'" in message
    assert (caught.value.path, caught.value.hunk_number) == ("src/app.py", 2)


def test_changing_a_missing_file_or_creating_an_existing_one_is_refused():
    modify = "--- a/missing.py\n+++ b/missing.py\n@@ -1 +1 @@\n-a\n+b\n"
    with pytest.raises(DiffDoesNotApply, match=r"^missing\.py: the file does not exist$"):
        apply_unified_diff(modify, reader({}))
    create = "--- /dev/null\n+++ b/there.py\n@@ -0,0 +1 @@\n+x\n"
    with pytest.raises(DiffDoesNotApply, match=r"^there\.py: the diff creates it, but it already exists$"):
        apply_unified_diff(create, reader({"there.py": "y\n"}))


def test_text_that_is_not_a_diff_is_a_parse_error():
    with pytest.raises(DiffParseError, match="no file header"):
        apply_unified_diff("I could not do it, sorry.", reader({}))
    with pytest.raises(DiffParseError, match="before any"):
        parse_unified_diff("@@ -1 +1 @@\n-a\n+b\n")


def test_removed_line_starting_with_dashes_is_not_taken_for_a_file_header():
    content = "select 1;\n-- comment\nselect 2;\n"
    diff = "--- a/q.sql\n+++ b/q.sql\n@@ -1,3 +1,2 @@\n select 1;\n--- comment\n select 2;\n"
    assert apply_unified_diff(diff, reader({"q.sql": content})).files == {"q.sql": "select 1;\nselect 2;\n"}


def test_extract_joins_fenced_diff_blocks_and_skips_other_code():
    answer = """\
Here is the change.

```python
print("not a diff")
```

```diff
--- a/a.txt
+++ b/a.txt
@@ -1 +1 @@
-a
+b
```
And the second file:
```patch
--- a/README.md
+++ b/README.md
@@ -1,3 +1,3 @@
 ```
-old
+new
 ```
```
"""
    diff = extract_diff(answer)
    assert diff is not None
    assert [patch.path for patch in parse_unified_diff(diff)] == ["a.txt", "README.md"]
    files = {"a.txt": "a\n", "README.md": "```\nold\n```\n"}
    assert apply_unified_diff(diff, reader(files)).files == {"a.txt": "b\n", "README.md": "```\nnew\n```\n"}


def test_extract_takes_an_unfenced_diff_and_returns_none_without_one():
    assert (
        extract_diff("Sure:\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n")
        == "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n"
    )
    assert extract_diff("No changes are needed.") is None
