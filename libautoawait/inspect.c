/*
 * inspect.c -- what IPython's `obj?` says, for a console or a kernel.
 *
 * aa_inspect finds the name at the cursor as IPython's token_at_cursor
 * does (the dotted name the cursor is in or just after, or the function
 * of the call still open there), looks it up as aa_complete does (its
 * _lookup: getattr along the name, nothing called but a property's
 * getter) and describes the object in plain text with the standard
 * inspect module.  Which keys and panels show it is the caller's
 * business; this file hands back text and frees nothing it did not make.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

/*
 * The inspector, in Python.  Its imports (the first line) go through the
 * library's own window (imports.c); describing an object reads it with
 * inspect and str(), as IPython does.  describe answers None when there
 * is no name at the cursor or it names nothing, else the text.
 */
static const char inspector_source[] =
    "import ast, inspect, io, keyword, linecache, tokenize\n"
    "def _name_at(code, cursor):\n"
    "    starts = [0]\n"
    "    for line in code.split('\\n'):\n"
    "        starts.append(starts[-1] + len(line) + 1)\n"
    "    names, calls, after_name, dot = [], [], False, False\n"
    "    try:\n"
    "        for tok in tokenize.generate_tokens(io.StringIO(code).readline):\n"
    "            if tok.type == tokenize.ENDMARKER:\n"
    "                break\n"
    "            start = starts[tok.start[0] - 1] + tok.start[1]\n"
    "            end = starts[tok.end[0] - 1] + tok.end[1]\n"
    "            if start > cursor or (start == cursor and\n"
    "                                  tok.type != tokenize.NAME):\n"
    "                break\n"
    "            if tok.type == tokenize.NAME and not "
    "keyword.iskeyword(tok.string):\n"
    "                if dot:\n"
    "                    names[-1] += '.' + tok.string\n"
    "                else:\n"
    "                    names.append(tok.string)\n"
    "                after_name, dot = True, False\n"
    "            else:\n"
    "                op = tok.string if tok.type == tokenize.OP else None\n"
    "                dot = op == '.' and after_name\n"
    "                after_name = False\n"
    "                if op == '=' and names:\n"
    "                    names.pop()\n"
    "                elif op == '(' and names:\n"
    "                    calls.append(names[-1])\n"
    "                elif op == ')' and calls:\n"
    "                    calls.pop()\n"
    "            if end > cursor:\n"
    "                break\n"
    "    except (tokenize.TokenError, SyntaxError):\n"
    "        pass\n"
    "    return calls[-1] if calls else names[-1] if names else None\n"
    "def _field(lines, key, value):\n"
    "    value = value.rstrip('\\n')\n"
    "    if '\\n' in value:\n"
    "        lines.append(key + ':\\n' + value)\n"
    "    else:\n"
    "        lines.append(key + ': ' + value)\n"
    "def _one_line(text, most=200):\n"
    "    first = text.split('\\n', 1)[0]\n"
    "    if len(first) > most:\n"
    "        first = first[:most]\n"
    "    return first + ' ...' if len(first) < len(text) else first\n"
    "def _class_source(cls):\n"
    "    flags = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT\n"
    "    for v in vars(cls).values():\n"
    "        v = getattr(v, '__func__', getattr(v, 'fget', v))\n"
    "        code = getattr(v, '__code__', None)\n"
    "        lines = linecache.getlines(code.co_filename) if code else None\n"
    "        try:\n"
    "            tree = compile(''.join(lines), code.co_filename, 'exec', "
    "flags)\n"
    "        except Exception:\n"
    "            continue\n"
    "        for node in ast.walk(tree):\n"
    "            if (isinstance(node, ast.ClassDef) and\n"
    "                    node.name == cls.__name__ and\n"
    "                    node.lineno <= code.co_firstlineno <= "
    "node.end_lineno):\n"
    "                first = min([node.lineno] +\n"
    "                            [d.lineno for d in node.decorator_list])\n"
    "                return ''.join(lines[first - 1:node.end_lineno])\n"
    "    return None\n"
    "def _source(obj):\n"
    "    try:\n"
    "        return inspect.getsource(obj)\n"
    "    except Exception:\n"
    "        pass\n"
    "    try:\n"
    "        return _class_source(obj) if inspect.isclass(obj) else None\n"
    "    except Exception:\n"
    "        return None\n"
    "def _describe(name, obj, detail):\n"
    "    lines = []\n"
    "    if callable(obj):\n"
    "        try:\n"
    "            _field(lines, 'Signature', name + "
    "str(inspect.signature(obj)))\n"
    "        except (ValueError, TypeError):\n"
    "            pass\n"
    "    _field(lines, 'Type', type(obj).__name__)\n"
    "    if not (inspect.isroutine(obj) or inspect.isclass(obj) or\n"
    "            inspect.ismodule(obj)):\n"
    "        try:\n"
    "            _field(lines, 'String form', _one_line(str(obj)))\n"
    "        except Exception:\n"
    "            pass\n"
    "    try:\n"
    "        _field(lines, 'File', inspect.getfile(obj))\n"
    "    except Exception:\n"
    "        pass\n"
    "    source = _source(obj) if detail else None\n"
    "    if source:\n"
    "        lines.append('Source:\\n' + source.rstrip('\\n'))\n"
    "    else:\n"
    "        try:\n"
    "            doc = inspect.getdoc(obj)\n"
    "        except Exception:\n"
    "            doc = None\n"
    "        _field(lines, 'Docstring', doc or '<no docstring>')\n"
    "    return '\\n'.join(lines) + '\\n'\n"
    "def describe(lookup, ns, code, cursor, detail):\n"
    "    name = _name_at(code, cursor)\n"
    "    if name is None:\n"
    "        return None\n"
    "    try:\n"
    "        obj = lookup(ns, name)\n"
    "    except Exception:\n"
    "        return None\n"
    "    return _describe(name, obj, detail)\n";

static PyObject *inspector; /* describe, above */

static PyObject *get_inspector(void)
{
    PyObject *globals;

    if (inspector != NULL)
        return inspector;
    globals = aa__own_source(inspector_source, "<autoawait inspector>");
    if (globals != NULL) {
        inspector = PyDict_GetItemString(globals, "describe");
        Py_XINCREF(inspector);
        Py_DECREF(globals);
    }
    /* Importing inspect imported linecache: the cells' sources go there. */
    aa__sources_flush();
    return inspector;
}

/* describe's answer about code at byte offset cursor: a new reference,
 * None, or NULL with an exception set. */
static PyObject *describe(aa_session *s, const char *code, size_t cursor,
                          int detail)
{
    PyObject *fn = get_inspector(), *lookup = aa__completer_lookup();
    PyObject *text = NULL, *before = NULL, *r = NULL;

    if (fn == NULL || lookup == NULL)
        return NULL;
    /* The cursor counts bytes, Python characters: it stands after the
     * characters the bytes before it decode to. */
    text = PyUnicode_DecodeUTF8(code, (Py_ssize_t)strlen(code), "replace");
    before = PyUnicode_DecodeUTF8(code, (Py_ssize_t)cursor, "replace");
    if (text != NULL && before != NULL)
        r = PyObject_CallFunction(fn, "OOOni", lookup, s->ns, text,
                                  PyUnicode_GET_LENGTH(before), detail != 0);
    Py_XDECREF(text);
    Py_XDECREF(before);
    return r;
}

int aa_inspect(aa_session *s, const char *code, size_t cursor, int detail,
               char **text)
{
    PyObject *answer = NULL;
    PyGILState_STATE g;
    int rc;

    if (text != NULL)
        *text = NULL;
    if (s == NULL || code == NULL || text == NULL || cursor > strlen(code))
        return AA_EINVAL;
    if ((rc = aa__interp_enter(&g)) != AA_OK)
        return rc;
    /* A property's getter may print: that is the session's output. */
    if (aa__output_begin(s) == 0) {
        answer = describe(s, code, cursor, detail);
        aa__output_end(s);
    }
    if (answer == NULL) {
        rc = PyErr_ExceptionMatches(PyExc_MemoryError) ? AA_ENOMEM : AA_EPYTHON;
        aa__session_fail(s, rc, "inspection failed");
        PyErr_Clear();
    } else if (answer == Py_None) {
        rc = aa__session_fail(s, AA_ENOTFOUND,
                              "no name at the cursor, or it names nothing");
    } else if (aa__result_set_string(text, answer) < 0) {
        rc = aa__session_fail(s, AA_ENOMEM, "inspection failed");
        PyErr_Clear();
    }
    Py_XDECREF(answer);
    aa__interp_leave(g);
    return rc;
}

void aa_free(void *p)
{
    free(p);
}
