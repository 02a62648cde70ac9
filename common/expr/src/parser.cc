// Recursive-descent parser for the expression language (see docs/templates.md):
//   expr    := or ('if' or 'else' expr)?
//   or      := and ('or' and)*          and := not ('and' not)*
//   not     := 'not' not | compare      compare := sum (cmp-op sum)?
//   sum     := term (('+'|'-') term)*   term := unary (('*'|'/'|'//'|'%') unary)*
//   unary   := '-' unary | postfix
//   postfix := primary ('.' name | '[' int ']' | '(' args ')')*
//   primary := number | string | true | false | null | name | '(' expr ')' | '[' items ']'
#include <utility>

#include "entrenar/expr/expr.h"

#include "lexer.h"

namespace entrenar::expr {
namespace {

using ExprPtr = std::unique_ptr<Expr>;

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : toks_(std::move(tokens)) {}

  Outcome<ExprPtr> ParseAll() {
    ExprPtr e = ParseExpr();
    if (error_) return *error_;
    if (Peek().kind != Tok::kEnd) {
      return Error{Peek().offset, "unexpected `" + Peek().text + "` after the expression",
                   "join conditions with `and` or `or`"};
    }
    return e;
  }

 private:
  const Token& Peek() const { return toks_[pos_]; }
  bool IsOp(std::string_view op) const { return Peek().kind == Tok::kOp && Peek().text == op; }
  bool IsKw(std::string_view kw) const { return Peek().kind == Tok::kKeyword && Peek().text == kw; }
  const Token& Take() { return toks_[pos_ < toks_.size() - 1 ? pos_++ : pos_]; }

  ExprPtr Fail(std::size_t offset, std::string message, std::string hint = "") {
    if (!error_) error_ = Error{offset, std::move(message), std::move(hint)};
    return nullptr;
  }
  ExprPtr Unexpected(std::string_view wanted) {
    const Token& t = Peek();
    const std::string found = t.kind == Tok::kEnd ? "the end" : "`" + t.text + "`";
    return Fail(t.offset, "expected " + std::string(wanted) + ", found " + found);
  }

  static ExprPtr Node(Expr::Kind kind, std::size_t offset) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->offset = offset;
    return e;
  }
  ExprPtr Binary(std::string op, ExprPtr l, ExprPtr r) {
    if (!l || !r) return nullptr;
    ExprPtr e = Node(Expr::Kind::kBinary, l->offset);
    e->end = r->end;
    e->op = std::move(op);
    e->args.push_back(std::move(l));
    e->args.push_back(std::move(r));
    return e;
  }

  ExprPtr ParseExpr() {
    // Nesting is bounded so a hostile expression cannot exhaust the stack.
    if (++depth_ > kMaxDepth) {
      return Fail(Peek().offset,
                  "expression nested too deeply (over " + std::to_string(kMaxDepth) + " levels)");
    }
    ExprPtr result = ParseConditional();
    --depth_;
    return result;
  }

  ExprPtr ParseConditional() {
    ExprPtr value = ParseOr();
    if (!value || !IsKw("if")) return value;
    Take();
    ExprPtr cond = ParseOr();
    if (!cond) return nullptr;
    if (!IsKw("else")) return Unexpected("`else` (a conditional is `a if cond else b`)");
    Take();
    ExprPtr other = ParseExpr();
    if (!other) return nullptr;
    ExprPtr e = Node(Expr::Kind::kTernary, value->offset);
    e->end = other->end;
    e->args.push_back(std::move(cond));
    e->args.push_back(std::move(value));
    e->args.push_back(std::move(other));
    return e;
  }

  ExprPtr ParseOr() {
    ExprPtr l = ParseAnd();
    while (l && IsKw("or")) {
      Take();
      l = Binary("or", std::move(l), ParseAnd());
    }
    return l;
  }
  ExprPtr ParseAnd() {
    ExprPtr l = ParseNot();
    while (l && IsKw("and")) {
      Take();
      l = Binary("and", std::move(l), ParseNot());
    }
    return l;
  }
  ExprPtr ParseNot() {
    if (!IsKw("not")) return ParseCompare();
    const std::size_t at = Take().offset;
    if (++depth_ > kMaxDepth) return Fail(at, "expression nested too deeply");
    ExprPtr operand = ParseNot();
    --depth_;
    if (!operand) return nullptr;
    ExprPtr e = Node(Expr::Kind::kUnary, at);
    e->end = operand->end;
    e->op = "not";
    e->args.push_back(std::move(operand));
    return e;
  }
  ExprPtr ParseCompare() {
    ExprPtr l = ParseSum();
    for (std::string_view op : {"==", "!=", "<=", ">=", "<", ">"}) {
      if (l && IsOp(op)) {
        Take();
        return Binary(std::string(op), std::move(l), ParseSum());
      }
    }
    return l;
  }
  ExprPtr ParseSum() {
    ExprPtr l = ParseTerm();
    while (l && (IsOp("+") || IsOp("-"))) {
      std::string op = Take().text;
      l = Binary(op, std::move(l), ParseTerm());
    }
    return l;
  }
  ExprPtr ParseTerm() {
    ExprPtr l = ParseUnary();
    while (l && (IsOp("*") || IsOp("/") || IsOp("//") || IsOp("%"))) {
      std::string op = Take().text;
      l = Binary(op, std::move(l), ParseUnary());
    }
    return l;
  }
  ExprPtr ParseUnary() {
    if (!IsOp("-")) return ParsePostfix();
    const std::size_t at = Take().offset;
    if (++depth_ > kMaxDepth) return Fail(at, "expression nested too deeply");
    ExprPtr operand = ParseUnary();
    --depth_;
    if (!operand) return nullptr;
    ExprPtr e = Node(Expr::Kind::kUnary, at);
    e->end = operand->end;
    e->op = "-";
    e->args.push_back(std::move(operand));
    return e;
  }

  ExprPtr ParsePostfix() {
    ExprPtr e = ParsePrimary();
    while (e) {
      if (IsOp(".")) {
        Take();
        if (Peek().kind != Tok::kIdent) return Unexpected("a name after `.`");
        if (e->kind != Expr::Kind::kRef) return Fail(Peek().offset, "only names have fields");
        const Token& t = Take();
        e->path.push_back(PathSeg{t.text, std::nullopt, t.offset});
        e->end = t.end;
      } else if (IsOp("[")) {
        const std::size_t at = Take().offset;
        if (e->kind != Expr::Kind::kRef) return Fail(at, "only names can be indexed");
        if (Peek().kind != Tok::kNumber || Peek().number.kind != Value::Kind::kInt) {
          return Unexpected("a list index (a whole number)");
        }
        const std::int64_t index = Take().number.i;
        if (!IsOp("]")) return Unexpected("`]`");
        e->end = Take().end;
        e->path.push_back(PathSeg{"", index, at});
      } else if (IsOp("(")) {
        if (e->kind != Expr::Kind::kRef) return Fail(Peek().offset, "only functions can be called");
        Take();
        e->kind = Expr::Kind::kCall;
        if (!ParseItems(")", &e->args)) return nullptr;
        e->end = Take().end;
      } else {
        break;
      }
    }
    return e;
  }

  // Parses `item, item, ...` up to (not including) `close`.
  bool ParseItems(std::string_view close, std::vector<ExprPtr>* items) {
    if (IsOp(close)) return true;
    while (true) {
      ExprPtr item = ParseExpr();
      if (!item) return false;
      items->push_back(std::move(item));
      if (IsOp(",")) {
        Take();
        continue;
      }
      if (IsOp(close)) return true;
      Unexpected("`,` or `" + std::string(close) + "`");
      return false;
    }
  }

  ExprPtr ParsePrimary() {
    const Token& t = Peek();
    switch (t.kind) {
      case Tok::kNumber:
      case Tok::kString: {
        ExprPtr e = Node(Expr::Kind::kLiteral, t.offset);
        e->end = t.end;
        e->literal = t.kind == Tok::kNumber ? t.number : Value::String(t.text);
        Take();
        return e;
      }
      case Tok::kKeyword: {
        ExprPtr e = Node(Expr::Kind::kLiteral, t.offset);
        e->end = t.end;
        if (t.text == "true" || t.text == "True") {
          e->literal = Value::Bool(true);
        } else if (t.text == "false" || t.text == "False") {
          e->literal = Value::Bool(false);
        } else if (t.text == "null" || t.text == "None") {
          e->literal = Value::Null();
        } else {
          return Unexpected("a value");
        }
        Take();
        return e;
      }
      case Tok::kIdent: {
        ExprPtr e = Node(Expr::Kind::kRef, t.offset);
        e->end = t.end;
        e->path.push_back(PathSeg{t.text, std::nullopt, t.offset});
        Take();
        return e;
      }
      case Tok::kOp:
        if (t.text == "(") {
          Take();
          ExprPtr inner = ParseExpr();
          if (!inner) return nullptr;
          if (!IsOp(")")) return Unexpected("`)`");
          inner->end = Take().end;
          return inner;
        }
        if (t.text == "[") {
          ExprPtr e = Node(Expr::Kind::kList, t.offset);
          Take();
          if (!ParseItems("]", &e->args)) return nullptr;
          e->end = Take().end;
          return e;
        }
        return Unexpected("a value");
      case Tok::kEnd:
        return Unexpected("a value");
    }
    return Unexpected("a value");
  }

  static constexpr int kMaxDepth = 200;

  std::vector<Token> toks_;
  std::size_t pos_ = 0;
  int depth_ = 0;
  std::optional<Error> error_;
};

}  // namespace

std::string PathToString(const std::vector<PathSeg>& path) {
  std::string out;
  for (const PathSeg& seg : path) {
    if (seg.index) {
      out += "[" + std::to_string(*seg.index) + "]";
    } else {
      if (!out.empty()) out += ".";
      out += seg.name;
    }
  }
  return out;
}

Outcome<std::unique_ptr<Expr>> Parse(std::string_view source) {
  Outcome<std::vector<Token>> tokens = Lex(source);
  if (!tokens.ok()) return tokens.error();
  if (tokens.value().size() == 1) return Error{0, "empty expression", "write a value or a name"};
  // Trees are walked recursively: bound their size.
  if (tokens.value().size() > 2000) {
    return Error{0, "expression too long (over 2000 tokens)", "split it into several keys"};
  }
  return Parser(std::move(tokens.value())).ParseAll();
}

}  // namespace entrenar::expr
