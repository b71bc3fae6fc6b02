import nbformat, sys, importlib
sys.path.insert(0,'/tmp/nb')
mod=importlib.import_module(sys.argv[1]); CELLS=mod.CELLS
p=sys.argv[2]
nb=nbformat.read(p, as_version=4)
hwcell=next(c for c in nb.cells if c.get("id")=="hwcommon")
cells=[]
for kind,tags,src in CELLS:
    c=nbformat.v4.new_markdown_cell(src) if kind=="markdown" else nbformat.v4.new_code_cell(src)
    if tags: c.metadata["tags"]=tags
    if "remove_cell" in tags: c.metadata["cellView"]="form"; c.metadata["jupyter"]={"source_hidden": True}
    cells.append(c)
nb.cells=[cells[0], hwcell]+cells[1:]
nb.metadata.pop("hw_run",None)
nbformat.write(nb,p)
