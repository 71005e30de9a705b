import { type FormEvent, useState } from "react";
import { useMutation, useQuery } from "urql";
import { errorText } from "../client.ts";
import { when } from "../format.ts";
import type { CategoriesQuery } from "../generated/graphql.ts";
import { Categories, DefineCategory, UpdateCategory } from "../operations.ts";

type Category = CategoriesQuery["categories"][number];

const EXAMPLE = `{
  "type": "object",
  "properties": {
    "total": { "type": "string", "format": "money" },
    "date": { "type": "string", "format": "date" }
  }
}`;

export function CategoriesPage() {
  const [{ data, error }, refetch] = useQuery({ query: Categories });
  const [editing, setEditing] = useState<Category | "new" | null>(null);
  const reload = () => refetch({ requestPolicy: "network-only" });
  return (
    <section>
      <h1>Categories</h1>
      {error && <p className="error">{errorText(error)}</p>}
      <button type="button" onClick={() => setEditing("new")}>
        Define a category
      </button>
      {editing && (
        <CategoryForm
          key={editing === "new" ? "new" : editing.name}
          category={editing === "new" ? undefined : editing}
          onDone={() => {
            setEditing(null);
            reload();
          }}
          onCancel={() => setEditing(null)}
        />
      )}
      <table className="list" data-testid="categories">
        <thead>
          <tr>
            <th>Name</th>
            <th>Description</th>
            <th>Fields</th>
            <th>Keywords</th>
            <th>Version</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {data?.categories.map((c) => (
            <tr key={c.name}>
              <td>{c.name}</td>
              <td>{c.description}</td>
              <td className="small">
                {Object.keys((c.fields as { properties?: object } | null)?.properties ?? {}).join(", ")}
              </td>
              <td className="small">{c.keywords.join(", ")}</td>
              <td title={when(c.updatedAt)}>{c.version}</td>
              <td>
                <button type="button" onClick={() => setEditing(c)}>
                  Edit
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function CategoryForm({
  category,
  onDone,
  onCancel,
}: {
  category?: Category;
  onDone(): void;
  onCancel(): void;
}) {
  const [, define] = useMutation(DefineCategory);
  const [, update] = useMutation(UpdateCategory);
  const [problem, setProblem] = useState<string | null>(null);
  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    let fields: unknown;
    try {
      const raw = String(f.get("fields") ?? "").trim();
      fields = raw ? JSON.parse(raw) : undefined;
    } catch (err) {
      setProblem(`fields: not JSON (${(err as Error).message})`);
      return;
    }
    const keywords = String(f.get("keywords") ?? "")
      .split(",")
      .map((k) => k.trim())
      .filter(Boolean);
    const description = String(f.get("description") ?? "");
    const r = category
      ? await update({ name: category.name, change: { description, keywords, fields } })
      : await define({ input: { name: String(f.get("name") ?? "").trim(), description, keywords, fields } });
    if (r.error) setProblem(errorText(r.error));
    else onDone();
  };
  return (
    <form className="panel category" onSubmit={submit} aria-label="Category">
      <h2>{category ? `Edit ${category.name}` : "New category"}</h2>
      {!category && (
        <label>
          Name <input name="name" required />
        </label>
      )}
      <label>
        Description <input name="description" defaultValue={category?.description ?? ""} size={60} />
      </label>
      <label>
        Keywords (comma separated){" "}
        <input name="keywords" defaultValue={category?.keywords.join(", ") ?? ""} size={60} />
      </label>
      <label>
        Fields (JSON Schema subset: string, number, date, money, enum, array)
        <textarea
          name="fields"
          rows={10}
          cols={70}
          defaultValue={category ? JSON.stringify(category.fields, null, 2) : EXAMPLE}
        />
      </label>
      {problem && (
        <p role="alert" className="error">
          {problem}
        </p>
      )}
      <button type="submit">Save</button>{" "}
      <button type="button" className="secondary" onClick={onCancel}>
        Cancel
      </button>
    </form>
  );
}
