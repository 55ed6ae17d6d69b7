import pytest

from codeloop.domain.diffs import (
    DiffDoesNotApply,
    DiffParseError,
    DiffRefused,
    PatchRules,
    apply_unified_diff,
    extract_diff,
    parse_unified_diff,
    push_mode,
    push_refusal,
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


# -- what a diff may not do: refused before any file is read ----------------------------------------


def never_read(path: str) -> str | None:
    raise AssertionError(f"{path!r} was read: a refused diff must reach nothing")


def modify(path: str) -> str:
    return f"--- a/{path}\n+++ b/{path}\n@@ -1 +1 @@\n-a\n+b\n"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("../outside.txt", "../outside.txt: refused: '..' would climb out of the repository"),
        ("a/../../../../user", "a/../../../../user: refused: '..' would climb out of the repository"),
        ("/etc/passwd", "/etc/passwd: refused: absolute paths are refused"),
        (".git/config", ".git/config: refused: paths inside .git/ are refused"),
        (
            "sub/.git/hooks/post-checkout",
            "sub/.git/hooks/post-checkout: refused: paths inside .git/ are refused",
        ),
        (
            ".github/codeloop.yml",
            ".github/codeloop.yml: refused: it is a protected path (.github/codeloop.yml); "
            "change it by hand in a reviewed pull request",
        ),
        (
            ".github/workflows/ci.yml",
            ".github/workflows/ci.yml: refused: it is a protected path (.github/workflows/**); "
            "change it by hand in a reviewed pull request",
        ),
        (
            "infra/prod/main.tf",
            "infra/prod/main.tf: refused: it is a protected path (infra/**); "
            "change it by hand in a reviewed pull request",
        ),
    ],
)
def test_a_bad_path_is_refused_naming_the_path_and_the_rule(path, message):
    with pytest.raises(DiffRefused) as caught:
        apply_unified_diff(modify(path), never_read, PatchRules(protected_paths=("infra/**",)))
    assert str(caught.value) == message
    assert caught.value.path == path


def test_a_rename_out_of_a_protected_path_is_refused_too():
    diff = (
        "diff --git a/.github/workflows/ci.yml b/ci.yml\nsimilarity index 100%\n"
        "rename from .github/workflows/ci.yml\nrename to ci.yml\n"
    )
    with pytest.raises(DiffRefused, match=r"^\.github/workflows/ci\.yml: refused: it is a protected path"):
        apply_unified_diff(diff, never_read)


@pytest.mark.parametrize(
    ("diff", "refusal"),
    [
        pytest.param(
            "diff --git a/link b/link\nnew file mode 120000\n--- /dev/null\n+++ b/link\n"
            "@@ -0,0 +1 @@\n+../../etc/passwd\n\\ No newline at end of file\n",
            r"^link: refused: symlinks are refused$",
            id="new symlink",
        ),
        pytest.param(
            "diff --git a/f b/f\nold mode 100644\nnew mode 120000\n",
            r"^f: refused: symlinks are refused$",
            id="file made a symlink",
        ),
        pytest.param(
            "diff --git a/vendor/x b/vendor/x\nnew file mode 160000\n--- /dev/null\n+++ b/vendor/x\n"
            "@@ -0,0 +1 @@\n+Subproject commit abc\n",
            r"^vendor/x: refused: submodules are refused$",
            id="new submodule",
        ),
        pytest.param(
            "diff --git a/logo.png b/logo.png\nnew file mode 100644\nindex 0000000..1111111\n"
            "Binary files /dev/null and b/logo.png differ\n",
            r"^logo\.png: refused: binary patches are refused",
            id="binary files differ",
        ),
        pytest.param(
            "diff --git a/a.bin b/a.bin\nindex 1..2 100644\nGIT binary patch\nliteral 5\nMcmZ?wbaG|@0RR91\n\n",
            r"^a\.bin: refused: binary patches are refused",
            id="GIT binary patch",
        ),
    ],
)
def test_a_symlink_submodule_or_binary_patch_is_refused(diff, refusal):
    with pytest.raises(DiffRefused, match=refusal):
        apply_unified_diff(diff, never_read)


def test_diffs_over_the_caps_on_files_and_bytes_are_refused():
    three = "".join(modify(f"f{n}.txt") for n in range(3))
    with pytest.raises(
        DiffRefused, match=r"^\(the diff\): refused: it changes 3 files, more than the 2 allowed$"
    ):
        apply_unified_diff(three, never_read, PatchRules(max_files=2))
    with pytest.raises(
        DiffRefused, match=r"^\(the diff\): refused: it has \d+ bytes, more than the 40 allowed$"
    ):
        apply_unified_diff(three, never_read, PatchRules(max_bytes=40))


def test_file_modes_the_diff_sets_are_kept():
    diff = (
        "diff --git a/run.sh b/run.sh\nnew file mode 100755\n--- /dev/null\n+++ b/run.sh\n@@ -0,0 +1 @@\n+echo hi\n"
        "diff --git a/tool.py b/tool.py\nold mode 100755\nnew mode 100644\n"
        "diff --git a/x.py b/x.py\nindex 1..2 100644\n--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+b\n"
    )
    applied = apply_unified_diff(diff, reader({"tool.py": "print()\n", "x.py": "a\n"}))
    assert applied.files == {"run.sh": "echo hi\n", "tool.py": "print()\n", "x.py": "b\n"}
    assert applied.modes == {"run.sh": "100755", "tool.py": "100644"}


def test_a_push_keeps_an_executable_executable_and_refuses_to_write_through_a_symlink():
    existing = {"bin/run": "100755", "docs": "120000", "vendor/lib": "160000", "README.md": "100644"}
    assert push_mode("bin/run", {}, existing) == "100755"
    assert push_mode("bin/run", {"bin/run": "100644"}, existing) == "100644"
    assert push_mode("new.txt", {}, existing) == "100644"
    assert push_refusal("README.md", existing) is None
    assert push_refusal("docs", existing) == "docs is a symlink in the repository"
    assert push_refusal("docs/guide.md", existing) == "docs is a symlink in the repository"
    assert push_refusal("vendor/lib/x.c", existing) == "vendor/lib is a submodule in the repository"
